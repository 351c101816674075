"""A draft as a plain file: saved where the user asks (Ctrl+S), or rescued when the history
could not take it, so that nothing typed is lost even when the data directory is unusable."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from arxiv_tui import atomic
from arxiv_tui.paths import data_dir


def write_text(path: Path, text: str) -> Path:
    """Write `text` to `path` whole or not at all (`arxiv_tui.atomic`); `~` is
    expanded and missing folders are not created. Raises OSError with the reason."""
    path = path.expanduser()
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder")
    atomic.write_text(path, text)
    return path.absolute()


def default_path() -> Path:
    """Where Ctrl+S proposes to save: a dated file in the current folder."""
    return Path.cwd() / f"arxiv-tui-draft-{time.strftime('%Y%m%d-%H%M%S')}.txt"


def rescue(text: str) -> Path | None:
    """Keep `text` in the first place that takes it (the data directory, the home folder, the
    temp folder); returns where, or None if none did."""
    name = f"arxiv-tui-draft-{time.strftime('%Y%m%d-%H%M%S')}.txt"
    for folder in (data_dir() / "rescued", Path.home(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return write_text(folder / name, text)
        except OSError:
            continue
    return None
