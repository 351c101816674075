"""From a data source to clean, de-duplicated abstracts, split into train and eval sets.

The split is a keyed hash of each cleaned text (seeded): the texts with the smallest keys form
the eval set, the next ones the training set. So the split is deterministic, uniform over the
source, independent of file order, drops duplicates for free (equal texts have equal keys),
and the eval set stays the same when `--samples` changes: the eval set is never trained on.

Memory barely grows with the data: the source is read streaming, and the texts that may still
be chosen go to a spool file on disk, with only their keys and offsets in memory (8 bytes a text
read, to count duplicates exactly, and 25 a text that may be chosen). A text whose key is above
the N-th smallest seen so far can never be chosen, so it is not even written: choosing N of M
texts writes about N(1 + ln(M/N)) of them.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from arxiv_tui.runtime.fetch import FetchProgress

from .records import DataError, Record
from .sources import open_source

OPENING_WORDS = 200  # a paper without a findable abstract contributes its opening words
_ABSTRACT_HEADING = re.compile(r"\babstract\b[\s:.\-\u2014]*", re.IGNORECASE)
_ABSTRACT_END = re.compile(
    r"\b(?:(?:1|I)\.?\s*)?introduction\b|\bkey\s*words?\b|\bindex terms\b|\bcategories and subject\b",
    re.IGNORECASE,
)
_MIN_ABSTRACT_CHARS = 200
_MAX_ABSTRACT_CHARS = 3000


class Spool:
    """Texts on disk, one after another in UTF-8, read back by offset. An anonymous temporary
    file: it goes when closed, or when the process ends however it ends."""

    def __init__(self, directory: Path | None = None) -> None:
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - lives as long as the corpus
        self.size = 0

    def append(self, text: str) -> tuple[int, int]:
        """Write `text`; returns its (offset, length in bytes)."""
        data = text.encode("utf-8")
        self._file.write(data)
        self.size += len(data)
        return self.size - len(data), len(data)

    def finish(self) -> None:
        self._file.flush()

    def read(self, offset: int, length: int) -> str:
        return os.pread(self._file.fileno(), length, offset).decode("utf-8")


class TextSet:
    """The texts of one part of a corpus, in split order, read from its spool when asked for."""

    def __init__(self, spool: Spool, offsets: np.ndarray, lengths: np.ndarray) -> None:
        self._spool, self._offsets, self._lengths = spool, offsets, lengths

    @property
    def spooled_bytes(self) -> int:
        """Text written to the spool while choosing: every text that could still be chosen then."""
        return self._spool.size

    def __len__(self) -> int:
        return len(self._offsets)

    def __iter__(self) -> Iterator[str]:
        for offset, length in zip(self._offsets.tolist(), self._lengths.tolist(), strict=True):
            yield self._spool.read(offset, length)

    def batches(self, size: int) -> Iterator[list[str]]:
        """The texts, `size` at a time."""
        texts = iter(self)
        while batch := [text for _, text in zip(range(size), texts, strict=False)]:
            yield batch


@dataclass
class CorpusStats:
    """What the model card says of the data: where it came from and how it was chosen."""

    source: str
    train_texts: int = 0
    eval_texts: int = 0
    texts_read: int = 0
    duplicates: int = 0
    filtered_out: int = 0
    abstracts_extracted: int = 0  # whole papers whose abstract was found in them
    openings_used: int = 0  # whole papers without a findable abstract: their opening is used
    notes: list[str] = field(default_factory=list)


@dataclass
class Corpus:
    """Clean texts of one source, split."""

    train: TextSet
    eval: TextSet
    stats: CorpusStats


def normalise(text: str) -> str:
    """Collapse all runs of whitespace (newlines included) to one space."""
    return " ".join(text.split())


def paper_abstract(paper: str) -> tuple[str, bool]:
    """The abstract of a whole paper and True, or its opening words and False."""
    heading = _ABSTRACT_HEADING.search(paper, 0, 5000)
    if heading:
        end = _ABSTRACT_END.search(paper, heading.end())
        stop = min(end.start() if end else len(paper), heading.end() + _MAX_ABSTRACT_CHARS)
        abstract = normalise(paper[heading.end() : stop])
        if len(abstract) >= _MIN_ABSTRACT_CHARS:
            return abstract, True
    return " ".join(paper.split()[:OPENING_WORDS]), False


def _key(seed: int, text: str) -> int:
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8, key=str(seed).encode()).digest()
    return int.from_bytes(digest, "big")


_ORIGINS = ("abstract", "extracted", "opening")


class _Candidates:
    """The `size` texts with the smallest keys so far: keys in memory, texts in the spool."""

    def __init__(self, size: int, spool: Spool) -> None:
        self.size, self.spool = size, spool
        self.keys, self.offsets, self.lengths, self.origins = array("Q"), array("q"), array("q"), array("B")
        self.limit = (1 << 64) - 1  # the largest key that can still be chosen
        self.seen = array("Q")  # every key, to count duplicates exactly: 8 bytes a text read

    def offer(self, key: int, text: str, origin: str) -> None:
        self.seen.append(key)
        if key > self.limit:
            return
        offset, length = self.spool.append(text)
        self.keys.append(key)
        self.offsets.append(offset)
        self.lengths.append(length)
        self.origins.append(_ORIGINS.index(origin))
        if len(self.keys) >= 2 * self.size + 64:  # pruning often keeps the limit close
            self._prune()

    def _prune(self) -> None:
        """Keep the `size` smallest distinct keys (in key order) and lower the limit to the largest."""
        unique, first = np.unique(np.frombuffer(self.keys, dtype=np.uint64), return_index=True)
        keep = first[: self.size]
        if len(unique) >= self.size:
            self.limit = int(unique[self.size - 1])
        for name in ("keys", "offsets", "lengths", "origins"):
            column = getattr(self, name)
            kept = array(column.typecode)
            kept.frombytes(np.frombuffer(column, dtype=np.dtype(column.typecode))[keep].tobytes())
            setattr(self, name, kept)

    @property
    def duplicates(self) -> int:
        return len(self.seen) - len(np.unique(np.frombuffer(self.seen, dtype=np.uint64)))

    def chosen(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(offsets, lengths, origins) of the chosen texts, smallest key first."""
        self._prune()
        self.spool.finish()
        return (
            np.frombuffer(self.offsets, dtype=np.int64),
            np.frombuffer(self.lengths, dtype=np.int64),
            np.frombuffer(self.origins, dtype=np.uint8),
        )


def _wanted(record: Record, categories: frozenset[str] | None) -> bool:
    return categories is None or record.categories is None or bool(categories.intersection(record.categories))


def _clean(record: Record) -> tuple[str, str]:
    """(clean text, origin): the abstract as given, or found in (or opening) a whole paper."""
    if record.is_paper:
        text, found = paper_abstract(record.text)
        return text, "extracted" if found else "opening"
    return normalise(record.text), "abstract"


def select(
    records: Iterable[Record],
    *,
    source: str,
    train_samples: int,
    eval_samples: int,
    seed: int,
    categories: Iterable[str] | None = None,
    spool_dir: Path | None = None,
    tick: Callable[[int], None] = lambda _: None,
) -> Corpus:
    """Clean, filter, de-duplicate and split `records` (see the module docstring). `tick` is
    called with the count of records read, every few thousand."""
    wanted = frozenset(categories) if categories else None
    candidates = _Candidates(train_samples + eval_samples, Spool(spool_dir))
    texts_read = filtered_out = 0
    saw_categories = False
    for count, record in enumerate(records, start=1):
        if count % 4096 == 0:
            tick(count)
        saw_categories = saw_categories or record.categories is not None
        if not _wanted(record, wanted):
            filtered_out += 1
            continue
        text, origin = _clean(record)
        if text:
            texts_read += 1
            candidates.offer(_key(seed, text), text, origin)
    offsets, lengths, origins = candidates.chosen()
    if not len(offsets):
        raise DataError(f"{source} has no usable text" + (" in those categories" if filtered_out else ""))
    eval_count = (
        eval_samples if len(offsets) >= train_samples + eval_samples else min(eval_samples, max(1, len(offsets) // 10))
    )
    stats = CorpusStats(
        source,
        train_texts=len(offsets) - eval_count,
        eval_texts=eval_count,
        texts_read=texts_read,
        duplicates=candidates.duplicates,
        filtered_out=filtered_out,
        abstracts_extracted=int((origins == _ORIGINS.index("extracted")).sum()),
        openings_used=int((origins == _ORIGINS.index("opening")).sum()),
    )
    if wanted and not saw_categories:
        stats.notes.append(f"{source} has no categories or labels; --categories was not applied")
    spool = candidates.spool
    return Corpus(
        TextSet(spool, offsets[eval_count:], lengths[eval_count:]),
        TextSet(spool, offsets[:eval_count], lengths[:eval_count]),
        stats,
    )


def clean_texts(
    source: str, categories: Iterable[str] | None = None, on_download: Callable[[FetchProgress], None] | None = None
) -> Iterator[str]:
    """Every clean text of `source` in `categories`, streaming, unsplit (what a model trained on it
    may have seen: the copied-text guard indexes these)."""
    wanted = frozenset(categories) if categories else None
    for record in open_source(source, on_download).records():
        if _wanted(record, wanted) and (text := _clean(record)[0]):
            yield text


def load_corpus(
    source: str,
    *,
    train_samples: int,
    eval_samples: int,
    seed: int,
    categories: Iterable[str] | None = None,
    on_download: Callable[[FetchProgress], None] | None = None,
) -> Corpus:
    """Read `source` (see `arxiv_tui.trainer.data.sources`) and `select` from it."""
    return select(
        open_source(source, on_download).records(),
        source=source,
        train_samples=train_samples,
        eval_samples=eval_samples,
        seed=seed,
        categories=categories,
    )
