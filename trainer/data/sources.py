"""Open a training data source by its name: `hf:NAME[:CONFIG]`, `history:[PATH]`, or a local file
chosen by its extension (a folder of `.tex` files too). The readers live in `files`, `latex`, `hub`
and `history`; this module joins them. Cleaning, filtering and the train/eval split live in
`selection`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

from arxiv_tui.runtime.fetch import FetchProgress

from . import files, latex
from .history import open_history
from .hub import open_hub
from .records import DataError, FileReader, Record, Source

FORMATS = ".txt, .jsonl, .json, .csv, .bib, .tex (or a folder of them), hf:NAME[:CONFIG] or history:"

READERS: dict[str, FileReader] = {**files.READERS, **latex.READERS}


def _file_identity(paths: list[Path]) -> Callable[[], dict]:
    """Each file's path, size, modification time, and a hash of its first and last MiB: what
    `make` and rsync's quick check trust, plus a look at the content."""

    def identity() -> dict:
        files = []
        for path in paths:
            stat = path.stat()
            digest = hashlib.blake2b(digest_size=16)
            with open(path, "rb") as handle:
                digest.update(handle.read(1 << 20))
                handle.seek(max(0, stat.st_size - (1 << 20)))
                digest.update(handle.read(1 << 20))
            files.append(
                {
                    "file": str(path.resolve()),
                    "size": stat.st_size,
                    "mtime_ns": stat.st_mtime_ns,
                    "sample": digest.hexdigest(),
                }
            )
        return {"files": files}

    return identity


def open_source(source: str, on_download: Callable[[FetchProgress], None] | None = None) -> Source:
    """`hf:NAME[:CONFIG]` (fetched with byte progress to `on_download`), `history:[PATH]`, or a local
    file chosen by its extension."""
    if source.startswith("hf:"):
        return open_hub(source[3:], on_download)
    if source.startswith("history:"):
        return open_history(source[len("history:") :])
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"data file {source} does not exist")
    if path.is_dir():  # a folder of papers; one bad file in it is skipped, not fatal
        papers = sorted(path.rglob("*.tex"))
        if not papers:
            raise DataError(f"{source} is a directory without .tex files; give a data file ({FORMATS})")
        return Source(
            source,
            lambda opened: latex.tex_records(papers, path, opened),
            sum(f.stat().st_size for f in papers),
            "bytes",
            _file_identity(papers),
        )
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(f"cannot read {path.name}: unsupported file type (use {FORMATS})")
    _check_text_file(path)
    return Source(source, lambda opened: reader(path, opened), path.stat().st_size, "bytes", _file_identity([path]))


def read_records(source: str) -> Iterator[Record]:
    """Records of `source` (see `open_source`)."""
    return open_source(source).records()


def _check_text_file(path: Path) -> None:
    with open(path, "rb") as handle:
        head = handle.read(8192)
    if b"\x00" in head:
        raise DataError(f"{path} is a binary file, not text")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a character cut at the 8 KiB boundary is fine
            raise DataError(f"{path} is not UTF-8 text (bad byte at offset {exc.start})") from None
