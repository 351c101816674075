"""What every reader of training data hands out: `Record`s of an opened `Source`, and `DataError`
for input it cannot read (one line). The readers (`files`, `latex`, `hub`, `history`) each import
this module and `sources` joins them; none imports another, so there is no import cycle."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import TrainerError

TEXT_FIELDS = ("abstract", "text", "summary")

CATEGORY_FIELDS = ("categories", "category", "label", "labels", "terms")

PAPER_LENGTH = 4000  # characters: a "text" longer than this is a whole paper, not an abstract


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

    def __init__(
        self,
        name: str,
        records: Callable[[Source], Iterator[Record]],
        total: int | None,
        unit: str,
        identity: Callable[[], dict] | None,
    ) -> None:
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


# A file reader: the records of the file at a path, read through the opened source (for progress).
FileReader = Callable[[Path, Source], Iterator[Record]]


def categories_of(value: Any) -> tuple[str, ...] | None:
    """Categories from a field: "cs.AI cs.LG", "['cs.AI', 'cs.LG']", a list, or one label."""
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return tuple(part for part in re.split(r"[\s,;'\"\[\]]+", str(value)) if part)


def from_mapping(row: dict) -> Record | None:
    """A Record from a JSON object or CSV row; None if it has no text field."""
    for field in TEXT_FIELDS:
        value = row.get(field)
        if isinstance(value, str) and value.strip():
            categories = next((categories_of(row[f]) for f in CATEGORY_FIELDS if row.get(f) not in (None, "")), None)
            return Record(value, categories, is_paper=field == "text" and len(value) > PAPER_LENGTH)
    return None
