"""Prepared training data: a source's chosen texts, tokenized once into row files in the data
directory, and reused while nothing they depend on has changed.

An entry is named by a hash of everything its rows depend on: the source's content (a file's
path, size, modification time and a hash of its ends; a Hub data set's name and snapshot
commit), the tokenizer (its whole serialisation), the template, the category filter,
the seed, the sample counts, the row length and packing, and this module's format. A changed
input gives another name, so stale rows are never used. The history (`history:`) is not kept:
it changes with every session, and it is small; its rows go to a scratch directory.

Processes of a distributed run all call `prepare`; a file lock per entry makes the first one
build it and the others (on this machine, or on others sharing the file system) wait and reuse.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from arxiv_tui import atomic
from arxiv_tui.runtime.copyguard.index import INDEX_DIR, build_index
from arxiv_tui.runtime.fetch import FetchProgress

from ..recipe import Recipe
from .blocks import Blocks, RowWriter, encode, open_rows, token_dtype
from .cache import cache_root
from .records import Source
from .selection import CorpusStats, TextSet, select
from .sources import open_source

FORMAT = 1
TOKENIZE_BATCH = 2048  # texts per call: enough for the fast tokenizer to use every core
_PARTS = ("train", "eval")


@dataclass
class PrepareReport:
    """Progress of preparation, for the display."""

    stage: str  # "reading", "tokenizing" or "indexing" (the copied-text guard's index)
    done: int
    total: int | None
    unit: str  # "bytes", "records" or "texts"


@dataclass
class Prepared:
    """Rows ready to train and evaluate on, and the card's account of the data."""

    train: Blocks
    eval: Blocks
    stats: CorpusStats
    directory: Path
    reused: bool
    _scratch: tempfile.TemporaryDirectory | None = None  # keeps an uncached entry alive


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of everything the tokenizer does (a fast tokenizer serialises all of it)."""
    from arxiv_tui.runtime.vocabulary import start_ids

    backend = getattr(tokenizer, "backend_tokenizer", None)
    described = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    start = start_ids(tokenizer)  # in the hash only where there is one: GPT-2 data prepared before stays valid
    return hashlib.sha256(f"{described}|{tokenizer.eos_token_id}{f'|{start}' if start else ''}".encode()).hexdigest()


def _inputs(recipe: Recipe, identity: dict, tokenizer) -> dict:
    categories = recipe.effective_categories()
    return {
        "format": FORMAT,
        "source": identity,
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "template": recipe.template,
        "categories": sorted(categories) if categories else None,
        "seed": recipe.seed,
        "samples": recipe.samples,
        "eval_samples": recipe.eval_samples,
        "max_length": recipe.max_length,
        "pack": recipe.pack,
    }


def _digest(value: dict) -> str:
    """A hash of a JSON-able value, the same whatever the order of its keys."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def entry_name(inputs: dict) -> str:
    return _digest(inputs)[:16]


def prepare(
    recipe: Recipe,
    tokenizer,
    *,
    root: Path | None = None,
    report: Callable[[PrepareReport], None] = lambda _: None,
    on_download: Callable[[FetchProgress], None] | None = None,
) -> Prepared:
    """The recipe's rows: from the cache under `root` (default `cache_root()`) or built there.
    A Hub data set is fetched first, its bytes reported to `on_download`. Where the cache can't
    be written (a read-only data directory), the rows go to a scratch folder and are not kept."""
    from filelock import FileLock

    source = open_source(recipe.data, on_download)
    identity = source.identity()
    root = _writable(root or cache_root())
    if identity is None or root is None:
        scratch = tempfile.TemporaryDirectory(dir=root, prefix=".scratch-")
        _build(Path(scratch.name), source, recipe, tokenizer, {}, report)
        return _open(Path(scratch.name), reused=False, scratch=scratch)
    inputs = _inputs(recipe, identity, tokenizer)
    directory = root / entry_name(inputs)
    with FileLock(str(root / f".{directory.name}.lock")):
        if (directory / "meta.json").exists():
            try:
                found = _open(directory, reused=True)
                os.utime(directory)  # its last use, which `arxiv-tui data list` shows
                return found
            except (OSError, ValueError, KeyError):  # damaged (a file removed by hand): build it again
                shutil.rmtree(directory, ignore_errors=True)
        building = root / f".{directory.name}.partial-{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        try:
            _build(building, source, recipe, tokenizer, inputs, report)
            os.replace(building, directory)
        finally:
            shutil.rmtree(building, ignore_errors=True)
    return _open(directory, reused=False)


def _writable(root: Path) -> Path | None:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return root if os.access(root, os.W_OK | os.X_OK) else None


def _build(
    directory: Path, source: Source, recipe: Recipe, tokenizer, inputs: dict, report: Callable[[PrepareReport], None]
) -> None:
    """Choose the texts and write their rows and meta.json into `directory`."""
    started = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True)
    corpus = select(
        source.records(),
        source=recipe.data,
        train_samples=recipe.samples,
        eval_samples=recipe.eval_samples,
        seed=recipe.seed,
        categories=recipe.effective_categories(),
        spool_dir=directory,
        tick=lambda _: report(PrepareReport("reading", source.done(), source.total, source.unit)),
    )
    report(PrepareReport("reading", source.total or 0, source.total, source.unit))
    dtype = token_dtype(len(tokenizer))
    total = len(corpus.train) + len(corpus.eval)
    parts: dict[str, dict] = {}
    done = 0
    for part, texts in zip(_PARTS, (corpus.train, corpus.eval), strict=True):
        packed = recipe.pack and part == "train"  # held-out texts are scored one per row, as the app sees them

        def progress(count: int, before: int = done) -> None:
            report(PrepareReport("tokenizing", before + count, total, "texts"))

        parts[part] = _write_rows(directory / f"{part}.bin", texts, tokenizer, recipe, packed, dtype, progress)
        done += len(texts)
    index = build_index(
        iter(corpus.train),
        directory / INDEX_DIR,
        lambda count: report(PrepareReport("indexing", count, len(corpus.train), "texts")),
    )
    report(PrepareReport("indexing", len(corpus.train), len(corpus.train), "texts"))
    meta = {
        "inputs": inputs,
        "data": recipe.data,
        "copy_index": index,
        "dtype": dtype.name,
        "max_length": recipe.max_length,
        "parts": parts,
        "stats": asdict(corpus.stats),
        "created": time.time(),
        "seconds": time.perf_counter() - started,
    }
    (directory / "meta.json").write_text(json.dumps(meta, indent=1))


def _write_rows(
    path: Path,
    texts: TextSet,
    tokenizer,
    recipe: Recipe,
    packed: bool,
    dtype: np.dtype,
    progress: Callable[[int], None],
) -> dict:
    """Tokenize `texts` into rows at `path` (and their lengths beside it); returns what `_open` needs."""
    with open(path, "wb") as sink:
        writer = RowWriter(sink, recipe.max_length, packed=packed, pad_id=tokenizer.eos_token_id, dtype=dtype)
        count = 0
        for batch in texts.batches(TOKENIZE_BATCH):
            writer.add(encode(tokenizer, batch, recipe.template))
            count += len(batch)
            progress(count)
    lengths = writer.lengths()
    if lengths is not None:
        np.save(path.with_suffix(".lengths.npy"), lengths)
    return {"rows": writer.rows, "tokens": writer.written, "texts": count, "packed": packed}


def _open(directory: Path, *, reused: bool, scratch: tempfile.TemporaryDirectory | None = None) -> Prepared:
    meta = json.loads((directory / "meta.json").read_text())
    dtype, length = np.dtype(meta["dtype"]), meta["max_length"]
    blocks = {}
    for part in _PARTS:
        info = meta["parts"][part]
        lengths = None if info["packed"] else np.load(directory / f"{part}.lengths.npy")
        blocks[part] = open_rows(directory / f"{part}.bin", info["rows"], length, dtype, lengths)
    return Prepared(blocks["train"], blocks["eval"], CorpusStats(**meta["stats"]), directory, reused, scratch)


def remembered(prepared: Prepared, key: dict, compute: Callable[[], dict]) -> dict:
    """`compute()`, done once per entry and `key` and kept beside the rows (the base model's loss
    on the held-out rows: the same for every run that starts from that model)."""
    path = prepared.directory / "remembered.json"
    name = _digest(key)
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if name not in known:
        known[name] = compute()
        atomic.write_text(path, json.dumps(known))  # processes of a distributed run write the same result
    return known[name]
