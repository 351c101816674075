"""The prepared-data cache on disk (see `arxiv_tui.trainer.data.prepared`): where it is, what is in it, and
removing it. Only the standard library, so `arxiv-tui data list` starts at once."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from arxiv_tui.paths import data_dir


def cache_root() -> Path:
    """Where prepared data lives: the data directory's `prepared/`."""
    return data_dir() / "prepared"


@dataclass
class Entry:
    """One prepared data set in the cache, as `arxiv-tui data list` shows it."""

    name: str
    data: str
    texts: int
    tokens: int
    size: int  # bytes on disk
    created: float
    last_used: float


def _size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def entries(root: Path | None = None) -> list[Entry]:
    """The finished entries, most recently used first."""
    root = root or cache_root()
    found = []
    for meta_path in root.glob("*/meta.json"):
        try:
            meta = json.loads(meta_path.read_text())
            parts = meta["parts"]
            found.append(
                Entry(
                    meta_path.parent.name,
                    meta["data"],
                    sum(p["texts"] for p in parts.values()),
                    sum(p["tokens"] for p in parts.values()),
                    _size(meta_path.parent),
                    meta["created"],
                    meta_path.parent.stat().st_mtime,
                )
            )
        except (OSError, ValueError, KeyError):
            continue  # half-removed or foreign: `clear` removes it
    return sorted(found, key=lambda entry: entry.last_used, reverse=True)


def clear(names: list[str] | None = None, root: Path | None = None) -> int:
    """Remove the named entries (prefixes work), or everything, leftovers of killed runs included;
    returns the bytes freed. Raises KeyError for a name that matches nothing."""
    root = root or cache_root()
    if not root.exists():
        if names:
            raise KeyError(names[0])
        return 0
    if names:
        targets = []
        for name in names:
            matched = [
                path
                for path in root.iterdir()
                if path.is_dir() and path.name.startswith(name) and not path.name.startswith(".")
            ]
            if not matched:
                raise KeyError(name)
            targets += matched
    else:
        targets = list(root.iterdir())
    freed = 0
    for path in targets:
        if path.is_dir():
            freed += _size(path)
            shutil.rmtree(path, ignore_errors=True)
        elif path.suffix != ".lock":  # a lock may be held by a running preparation
            path.unlink(missing_ok=True)
    return freed
