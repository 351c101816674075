"""The copied-text guard: an index of the word 8-grams of a model's training texts, and the check
of a continuation (or a draft) against it. A small model can give back its training text word for
word, which a writer must not submit: a card that shares 8 or more consecutive words with a
training text says so (how many words, and which text).

Words are lower-cased runs of letters and digits (punctuation and spacing do not hide a copy).
Each word hashes to 64 bits (blake2b) and each 8-gram to a polynomial of its words' hashes,
computed with numpy over a whole text at once. The index is sorted runs of (8-gram, text) pairs
in .npy files, each run sorted and de-duplicated in memory of bounded size, so it builds for a
million abstracts as for two thousand (12 bytes an 8-gram: ~5 MB for the recipe's 2,000), and a
lookup is a binary search in each memory-mapped run. Without an index nothing is claimed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from arxiv_tui.runtime.copyguard.record import Copy

WORDS = 8
INDEX_DIR = "copy-index"  # beside a model's weights
RUN_GRAMS = 4_000_000  # 8-grams per sorted run: ~150 MB of memory while one is sorted
_WORD = re.compile(r"\w+(?:['’]\w+)*")
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd: the polynomial hash mixes every word
_OPENING_WORDS = 12


@functools.lru_cache(maxsize=1 << 18)
def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")


def _words(text: str) -> list[re.Match[str]]:
    return list(_WORD.finditer(text))


def _grams(words: list[re.Match[str]]) -> np.ndarray:
    """The hash of each run of WORDS consecutive words (the i-th starts at word i)."""
    if len(words) < WORDS:
        return np.zeros(0, dtype=np.uint64)
    hashes = np.fromiter((_word_hash(w.group().lower()) for w in words), dtype=np.uint64, count=len(words))
    count = len(words) - WORDS + 1
    grams = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):  # wrapping arithmetic is the hash
        for k in range(WORDS):
            grams = grams * _MULTIPLIER + hashes[k : k + count]
    return grams


class CopyIndex:
    """A built index (see `build_index`), memory-mapped."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.runs = [
            (np.load(path, mmap_mode="r"), np.load(path.with_name(path.name.replace("grams", "texts")), mmap_mode="r"))
            for path in sorted(directory.glob("grams-*.npy"))
        ]
        self._offsets = np.load(directory / "sources-offsets.npy", mmap_mode="r")

    @classmethod
    def find(cls, *directories: Path) -> CopyIndex | None:
        """The index in the first of `directories` that holds one."""
        for directory in directories:
            if (directory / "meta.json").exists():
                return cls(directory)
        return None

    def _texts(self, grams: np.ndarray) -> np.ndarray:
        """For each 8-gram, a training text holding it, or -1."""
        found = np.full(len(grams), -1, dtype=np.int64)
        for keys, texts in self.runs:
            if not len(keys):
                continue
            at = np.minimum(np.searchsorted(keys, grams), len(keys) - 1)
            hit = (keys[at] == grams) & (found < 0)
            found[hit] = texts[at[hit]]
        return found

    def source(self, text: int) -> str:
        """The opening words of training text `text`."""
        start, end = int(self._offsets[text]), int(self._offsets[text + 1])
        with open(self.directory / "sources.txt", "rb") as handle:
            handle.seek(start)
            return handle.read(end - start).decode().rstrip("\n")

    def copies(self, text: str, from_char: int = 0) -> list[Copy]:
        """The spans of `text` of WORDS or more consecutive words found in one training text, that
        reach past character `from_char` (the continuation after a draft), longest first."""
        words = _words(text)
        found = self._texts(_grams(words))
        copies, start = [], 0
        while start < len(found):
            if found[start] < 0:
                start += 1
                continue
            end = start
            while end + 1 < len(found) and found[end + 1] >= 0:
                end += 1
            last_word = words[end + WORDS - 1]
            if last_word.end() > from_char:
                copies.append(
                    Copy(end - start + WORDS, self.source(int(found[start])), words[start].start(), last_word.end())
                )
            start = end + 1
        return sorted(copies, key=lambda copy: -copy.words)


def index_directories(model: str, model_dir: Path) -> list[Path]:
    """Where a model's index may be: beside its weights, or (for a Hub model, whose files live in
    the shared HF cache) in the data directory's copy-indexes/."""
    from arxiv_tui.paths import data_dir

    return [model_dir / INDEX_DIR, data_dir() / "copy-indexes" / model.replace("/", "--")]


def check_continuations(index: CopyIndex | None, prompt: str, texts: list[str]) -> dict[int, Copy]:
    """The longest copy reaching into each continuation of `prompt` (by its index)."""
    if index is None:
        return {}
    tail = prompt[-400:]  # enough words of the draft to join a copy that starts there
    found = {i: index.copies(tail + text, from_char=len(tail)) for i, text in enumerate(texts)}
    return {i: copies[0] for i, copies in found.items() if copies}


def build_index(
    texts: Iterable[str], directory: Path, progress: Callable[[int], None] = lambda _: None
) -> dict[str, int]:
    """Write the index of `texts` to `directory` (see the module docstring); returns its figures.
    `progress` hears the count of texts indexed, every thousand or so."""
    directory.mkdir(parents=True, exist_ok=True)
    grams: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    pending = runs = total = count = 0
    offsets = [0]
    with open(directory / "sources.txt", "wb") as sources:
        for count, text in enumerate(texts, start=1):
            if count % 1024 == 0:
                progress(count)
            words = _words(text)
            line = (" ".join(w.group() for w in words[:_OPENING_WORDS]) + "\n").encode()
            sources.write(line)
            offsets.append(offsets[-1] + len(line))
            text_grams = _grams(words)
            grams.append(text_grams)
            owners.append(np.full(len(text_grams), count - 1, dtype=np.uint32))
            pending += len(text_grams)
            if pending >= RUN_GRAMS:
                total += _write_run(directory, runs, grams, owners)
                runs, pending = runs + 1, 0
                grams, owners = [], []
    if grams or not runs:
        total += _write_run(directory, runs, grams, owners)
        runs += 1
    np.save(directory / "sources-offsets.npy", np.array(offsets, dtype=np.uint64))
    figures = {"words": WORDS, "texts": count, "grams": total, "runs": runs}
    (directory / "meta.json").write_text(json.dumps(figures))
    return figures


def _write_run(directory: Path, number: int, grams: list[np.ndarray], owners: list[np.ndarray]) -> int:
    keys = np.concatenate(grams) if grams else np.zeros(0, dtype=np.uint64)
    texts = np.concatenate(owners) if owners else np.zeros(0, dtype=np.uint32)
    keys, first = np.unique(keys, return_index=True)  # sorted; a gram's first text is kept
    np.save(directory / f"grams-{number:03d}.npy", keys)
    np.save(directory / f"texts-{number:03d}.npy", texts[first])
    return len(keys)
