"""From a data source to clean, de-duplicated abstracts, split into train and eval sets.

The split is a keyed hash of each cleaned text (seeded): the texts with the smallest keys form
the eval set, the next ones the training set. So the split is deterministic, uniform over the
source, independent of file order, needs memory only for the texts kept (the Kaggle snapshot
is read streaming), drops duplicates for free (equal texts have equal keys), and the eval set
stays the same when `--samples` changes: the eval set is never trained on.
"""

from __future__ import annotations

import hashlib
import heapq
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from trainer.sources import DataError, Record, read_records

OPENING_WORDS = 200  # a paper without a findable abstract contributes its opening words
_ABSTRACT_HEADING = re.compile(r"\babstract\b[\s:.\-\u2014]*", re.IGNORECASE)
_ABSTRACT_END = re.compile(
    r"\b(?:(?:1|I)\.?\s*)?introduction\b|\bkey\s*words?\b|\bindex terms\b|\bcategories and subject\b",
    re.IGNORECASE,
)
_MIN_ABSTRACT_CHARS = 200
_MAX_ABSTRACT_CHARS = 3000


@dataclass
class Corpus:
    """Clean texts of one source, split; with the counts the model card reports."""

    source: str
    train: list[str]
    eval: list[str]
    texts_read: int = 0
    duplicates: int = 0
    filtered_out: int = 0
    abstracts_extracted: int = 0  # whole papers whose abstract was found in them
    openings_used: int = 0  # whole papers without a findable abstract: their opening is used
    notes: list[str] = field(default_factory=list)


def normalise(text: str) -> str:
    """Collapse all runs of whitespace (newlines included) to one space."""
    return " ".join(text.split())


def paper_abstract(paper: str) -> tuple[str, bool]:
    """The abstract of a whole paper and True, or its opening words and False."""
    heading = _ABSTRACT_HEADING.search(paper, 0, 5000)
    if heading:
        end = _ABSTRACT_END.search(paper, heading.end())
        stop = min(end.start() if end else len(paper), heading.end() + _MAX_ABSTRACT_CHARS)
        abstract = normalise(paper[heading.end():stop])
        if len(abstract) >= _MIN_ABSTRACT_CHARS:
            return abstract, True
    return " ".join(paper.split()[:OPENING_WORDS]), False


def _key(seed: int, text: str) -> int:
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8, key=str(seed).encode()).digest()
    return int.from_bytes(digest, "big")


class _Smallest:
    """The `size` texts with the smallest keys seen so far, without duplicates."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._heap: list[tuple[int, str, str]] = []  # (-key, text, origin): a max-heap
        self._keys: set[int] = set()

    def offer(self, key: int, text: str, origin: str) -> bool:
        """Keep the text if it is among the smallest; False if it is a duplicate."""
        if key in self._keys:
            return False
        if len(self._heap) < self.size:
            heapq.heappush(self._heap, (-key, text, origin))
            self._keys.add(key)
        elif key < -self._heap[0][0]:
            evicted = heapq.heapreplace(self._heap, (-key, text, origin))
            self._keys.discard(-evicted[0])
            self._keys.add(key)
        return True

    def in_order(self) -> list[tuple[str, str]]:
        """(text, origin) pairs, smallest key first."""
        return [(text, origin) for _, text, origin in sorted(self._heap, reverse=True)]


def _wanted(record: Record, categories: frozenset[str] | None) -> bool:
    return categories is None or record.categories is None or bool(categories.intersection(record.categories))


def select(records: Iterable[Record], *, source: str, train_samples: int, eval_samples: int,
           seed: int, categories: Iterable[str] | None = None) -> Corpus:
    """Clean, filter, de-duplicate and split `records` (see the module docstring)."""
    wanted = frozenset(categories) if categories else None
    kept = _Smallest(train_samples + eval_samples)
    corpus = Corpus(source, [], [])
    saw_categories = False
    for record in records:
        saw_categories = saw_categories or record.categories is not None
        if not _wanted(record, wanted):
            corpus.filtered_out += 1
            continue
        origin = "abstract"
        if record.is_paper:
            text, found = paper_abstract(record.text)
            origin = "extracted" if found else "opening"
        else:
            text = normalise(record.text)
        if not text:
            continue
        corpus.texts_read += 1
        if not kept.offer(_key(seed, text), text, origin):
            corpus.duplicates += 1
    if wanted and not saw_categories:
        corpus.notes.append(f"{source} has no categories or labels; --categories was not applied")
    chosen = kept.in_order()
    if not chosen:
        raise DataError(f"{source} has no usable text" + (" in those categories" if corpus.filtered_out else ""))
    eval_count = eval_samples if len(chosen) >= train_samples + eval_samples else min(eval_samples, max(1, len(chosen) // 10))
    corpus.eval = [text for text, _ in chosen[:eval_count]]
    train = chosen[eval_count:eval_count + train_samples]
    corpus.train = [text for text, _ in train]
    origins = [origin for _, origin in chosen[:eval_count + train_samples]]
    corpus.openings_used = origins.count("opening")
    corpus.abstracts_extracted = origins.count("extracted")
    return corpus


def load_corpus(source: str, *, train_samples: int, eval_samples: int, seed: int,
                categories: Iterable[str] | None = None) -> Corpus:
    """Read `source` (see `trainer.sources`) and `select` from it."""
    return select(read_records(source), source=source, train_samples=train_samples,
                  eval_samples=eval_samples, seed=seed, categories=categories)
