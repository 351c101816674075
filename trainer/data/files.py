"""Plain files of abstracts: `.txt` (separated by blank lines), `.jsonl` and `.json` (objects with
`abstract` or `text`; JSON lines under a .json name, as the Kaggle arXiv snapshot has them) and
`.csv` (an `abstract`, `text` or `summary` column)."""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from .records import TEXT_FIELDS, DataError, FileReader, Record, Source, from_mapping


def _read_text(path: Path, source: Source) -> str:
    try:
        with source.open(path, encoding="utf-8") as handle:
            return handle.read()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text (bad byte at offset {exc.start})") from None


def _txt_records(path: Path, source: Source) -> Iterator[Record]:
    for paragraph in re.split(r"\n\s*\n", _read_text(path, source)):
        yield Record(paragraph)


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
                yield from_mapping(row)

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
    return _require_text((from_mapping(row) if isinstance(row, dict) else None for row in rows), path)


def _csv_records(path: Path, source: Source) -> Iterator[Record]:
    csv.field_size_limit(sys.maxsize)  # whole papers in one field exceed the 128 KiB default
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip().lower() for name in reader.fieldnames or []]
        if not any(field in header for field in TEXT_FIELDS):
            raise DataError(
                f"{path} has no 'abstract', 'text' or 'summary' column (columns: {', '.join(header) or 'none'})"
            )
    return _require_text(_decode_errors(_csv_rows(path, source), path), path)


def _csv_rows(path: Path, source: Source) -> Iterator[Record | None]:
    with source.open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        try:
            for row in reader:
                yield from_mapping({(k or "").strip().lower(): v for k, v in row.items()})
        except csv.Error as exc:
            raise DataError(f"{path}:{reader.line_num}: malformed CSV ({exc})") from None


READERS: dict[str, FileReader] = {
    ".txt": _txt_records,
    ".jsonl": _json_lines_records,
    ".json": _json_records,
    ".csv": _csv_records,
}
