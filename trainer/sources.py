"""Read abstracts out of the file formats and data sets arXiv writers have at hand.

Each reader yields `Record`s (raw text plus categories where the source knows them) and raises
`DataError` with a one-line message for input it cannot read. Cleaning, filtering and the
train/eval split live in `trainer.data`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from arxiv_tui.runtime.fetch import FetchProgress
from trainer.errors import TrainerError
from trainer.recipe import ARXIV_CLASSIFICATION_LABELS

TEXT_FIELDS = ("abstract", "text", "summary")
CATEGORY_FIELDS = ("categories", "category", "label", "labels", "terms")
PAPER_LENGTH = 4000  # characters: a "text" longer than this is a whole paper, not an abstract
FORMATS = ".txt, .jsonl, .json, .csv, .bib, .tex (or a folder of them), hf:NAME[:CONFIG] or history:"


class DataError(TrainerError):
    """Training data that cannot be read or used."""


@dataclass(frozen=True)
class Record:
    """One text from a source, before cleaning."""

    text: str
    categories: tuple[str, ...] | None = None  # None where the source does not say
    is_paper: bool = False  # a whole paper: the abstract must be found in it


class Source:
    """An opened data source: its records, how far reading them has got, and what identifies its
    content (for the prepared-data cache)."""

    def __init__(self, name: str, records: Callable[[Source], Iterator[Record]], total: int | None,
                 unit: str, identity: Callable[[], dict] | None) -> None:
        self.name, self.total, self.unit = name, total, unit
        self._records, self._identity = records, identity
        self._handles: list[tuple[IO, int]] = []  # with each file's size
        self.counted = 0  # records read, where the source counts records rather than bytes

    def records(self) -> Iterator[Record]:
        return self._records(self)

    def identity(self) -> dict | None:
        """What the content depends on (None: not cacheable)."""
        return self._identity() if self._identity else None

    def open(self, path: Path, mode: str = "r", **kwargs) -> IO:
        """Open a file of this source; reading it advances `done`."""
        handle = open(path, mode, **kwargs)  # noqa: SIM115 - the reader closes it
        self._handles.append((handle, Path(path).stat().st_size))
        return handle

    def done(self) -> int:
        """Bytes read of the source's files (or records, for a data set)."""
        if self.unit != "bytes":
            return self.counted
        done = 0
        for handle, size in self._handles:
            raw = getattr(getattr(handle, "buffer", handle), "raw", None)
            if raw is not None and not raw.closed:
                done += raw.tell()  # the OS position: read-ahead granularity is fine for a bar
            else:
                done += size  # read and closed
        return min(done, self.total or done)


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
            files.append({"file": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                          "sample": digest.hexdigest()})
        return {"files": files}
    return identity


def open_source(source: str, on_download: Callable[[FetchProgress], None] | None = None) -> Source:
    """`hf:NAME[:CONFIG]` (fetched with byte progress to `on_download`), `history:[PATH]`, or a local
    file chosen by its extension."""
    if source.startswith("hf:"):
        return _hub_source(source[3:], on_download)
    if source.startswith("history:"):
        return Source(source, lambda _: _history_records(source[len("history:"):]), None, "texts", None)
    from trainer.latex_sources import bib_records, tex_records

    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"data file {source} does not exist")
    if path.is_dir():  # a folder of papers; one bad file in it is skipped, not fatal
        files = sorted(path.rglob("*.tex"))
        if not files:
            raise DataError(f"{source} is a directory without .tex files; give a data file ({FORMATS})")
        return Source(source, lambda opened: tex_records(files, path, opened), sum(f.stat().st_size for f in files),
                      "bytes", _file_identity(files))
    readers = {".txt": _txt_records, ".jsonl": _json_lines_records, ".json": _json_records, ".csv": _csv_records,
               ".bib": bib_records, ".tex": lambda file, opened: tex_records([file], file, opened)}
    reader = readers.get(path.suffix.lower())
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


def _read_text(path: Path, source: Source) -> str:
    try:
        with source.open(path, encoding="utf-8") as handle:
            return handle.read()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text (bad byte at offset {exc.start})") from None


def _txt_records(path: Path, source: Source) -> Iterator[Record]:
    for paragraph in re.split(r"\n\s*\n", _read_text(path, source)):
        yield Record(paragraph)


def _categories(value) -> tuple[str, ...] | None:
    """Categories from a field: "cs.AI cs.LG", "['cs.AI', 'cs.LG']", a list, or one label."""
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return tuple(part for part in re.split(r"[\s,;'\"\[\]]+", str(value)) if part)


def _from_mapping(row: dict) -> Record | None:
    """A Record from a JSON object or CSV row; None if it has no text field."""
    for field in TEXT_FIELDS:
        value = row.get(field)
        if isinstance(value, str) and value.strip():
            categories = next((_categories(row[f]) for f in CATEGORY_FIELDS if row.get(f) not in (None, "")), None)
            return Record(value, categories, is_paper=field == "text" and len(value) > PAPER_LENGTH)
    return None


def _require_text(records: Iterator[Record | None], path: Path) -> Iterator[Record]:
    seen_text = False
    for record in records:
        if record is not None:
            seen_text = True
            yield record
    if not seen_text:
        raise DataError(f"{path} has no {', '.join(repr(f) for f in TEXT_FIELDS)} field with text")


def _json_lines_records(path: Path, source: Source) -> Iterator[Record]:
    def parse() -> Iterator[Record | None]:
        with source.open(path, encoding="utf-8", errors="strict") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise DataError(f"{path}:{number}: malformed JSON ({getattr(exc, 'msg', exc)})") from None
                if not isinstance(row, dict):
                    raise DataError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
                yield _from_mapping(row)

    return _require_text(_decode_errors(parse(), path), path)


def _decode_errors(records: Iterator[Record | None], path: Path) -> Iterator[Record | None]:
    try:
        yield from records
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text (bad byte at offset {exc.start})") from None


def _json_records(path: Path, source: Source) -> Iterator[Record]:
    """A JSON array of objects, or JSON lines under a .json name (the Kaggle arXiv snapshot)."""
    with open(path, "rb") as handle:
        first = handle.read(4096).lstrip()[:1]
    if first != b"[":
        return _json_lines_records(path, source)
    try:
        rows = json.loads(_read_text(path, source))
    except ValueError as exc:
        raise DataError(f"{path}: malformed JSON ({getattr(exc, 'msg', exc)})") from None
    return _require_text((_from_mapping(row) if isinstance(row, dict) else None for row in rows), path)


def _csv_records(path: Path, source: Source) -> Iterator[Record]:
    csv.field_size_limit(sys.maxsize)  # whole papers in one field exceed the 128 KiB default
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip().lower() for name in reader.fieldnames or []]
        if not any(field in header for field in TEXT_FIELDS):
            raise DataError(f"{path} has no 'abstract', 'text' or 'summary' column (columns: {', '.join(header) or 'none'})")
    return _require_text(_decode_errors(_csv_rows(path, source), path), path)


def _csv_rows(path: Path, source: Source) -> Iterator[Record | None]:
    with source.open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        try:
            for row in reader:
                yield _from_mapping({(k or "").strip().lower(): v for k, v in row.items()})
        except csv.Error as exc:
            raise DataError(f"{path}:{reader.line_num}: malformed CSV ({exc})") from None


def _history_records(spec: str) -> Iterator[Record]:
    """The writer's drafts and accepted continuations (`history:`, or `history:PATH` to a database)."""
    import sqlite3

    from arxiv_tui.store.training import training_texts

    path = Path(spec).expanduser() if spec else None
    try:
        texts = training_texts(path)
    except FileNotFoundError as exc:
        raise DataError(f"no history at {exc.args[0]}: draft in the app first") from None
    except sqlite3.DatabaseError as exc:
        raise DataError(f"cannot read the history database: {exc}") from None
    if not texts:
        raise DataError("the history has no drafts or accepted continuations yet")
    return (Record(text) for text in texts)


def _hub_source(spec: str, on_download: Callable[[FetchProgress], None] | None) -> Source:
    """A Hub data set's train split, fetched (see `trainer.hub_data`) and read by `datasets`;
    whole papers are marked for abstract extraction."""
    name, _, config = spec.partition(":")
    if not name:
        raise DataError("hf: needs a data set name, as in hf:ccdv/arxiv-classification")
    try:
        import datasets
    except ImportError:
        raise DataError("hf: sources need the `datasets` package: pip install 'arxiv-tui[train]'", exit_code=1) from None
    from trainer.hub_data import fetch_dataset

    snapshot = fetch_dataset(name, config or None, on_download)

    def records(source: Source) -> Iterator[Record]:
        datasets.disable_progress_bars()
        try:
            table = datasets.load_dataset(str(snapshot), config or None, split="train")
        except Exception as exc:  # noqa: BLE001 - datasets raises many types for files it cannot read
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"cannot read hf:{spec}: {first_line}", exit_code=1) from None
        source.total = len(table)
        label_names = _label_names(table, name)
        for row in table:
            source.counted += 1
            if label_names is not None and isinstance(row.get("label"), int):
                row = {**row, "label": label_names[row["label"]]}
            record = _from_mapping(row)
            if record is not None:
                yield record

    # The snapshot folder is named by the commit: the same files, the same data.
    return Source(f"hf:{spec}", records, None, "records", lambda: {"hf": spec, "commit": snapshot.name})


def _label_names(table, name: str) -> tuple[str, ...] | None:
    feature = getattr(table, "features", {}).get("label")
    names = getattr(feature, "names", None)
    if names:
        return tuple(names)
    return ARXIV_CLASSIFICATION_LABELS if name == "ccdv/arxiv-classification" else None
