"""Token rows for training and evaluation: abstracts packed end to end, or one per row.

Rows are written once, as a compact array of token ids (uint16 for GPT-2's vocabulary), to a
file or to memory, and read back a batch at a time. On disk they are read through an
`np.memmap` opened for each batch, as nanoGPT does: a long run touches every row, and a map
kept open would hold each page it touched in the process's memory.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

IGNORE = -100  # label of positions the loss skips (padding)
UINT16 = np.dtype(np.uint16)


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned type that holds every id of the vocabulary."""
    return UINT16 if vocab_size <= 1 << 16 else np.dtype(np.uint32)


@dataclass
class Blocks:
    """Rows of `length` token ids; `lengths[i]` of row i are text, the rest padding (labels IGNORE)."""

    ids: np.ndarray  # [rows, length]; an np.memmap for rows on disk
    lengths: np.ndarray | None = None  # None: packed, every row full
    file: BinaryIO | None = None  # the rows' file, held open: they stay readable if the cache is cleared

    def __len__(self) -> int:
        return self.ids.shape[0]

    def _array(self) -> np.ndarray:
        if self.file is not None:  # a fresh map per batch (see the module docstring)
            return np.memmap(self.file, dtype=self.ids.dtype, mode="r", shape=self.ids.shape)
        return self.ids

    def rows(self, indices: torch.Tensor | slice) -> tuple[torch.Tensor, torch.Tensor]:
        """(input_ids, labels) of the given rows, as int64 tensors."""
        picked = indices.numpy() if isinstance(indices, torch.Tensor) else indices
        input_ids = torch.from_numpy(self._array()[picked].astype(np.int64))
        labels = input_ids.clone()
        if self.lengths is not None:
            lengths = torch.from_numpy(self.lengths[picked].astype(np.int64))
            labels[torch.arange(input_ids.shape[1]) >= lengths[:, None]] = IGNORE
        return input_ids, labels

    @property
    def target_tokens(self) -> int:
        """How many next-token predictions these rows score (the first token of a row has none)."""
        if self.lengths is None:
            return len(self) * (self.ids.shape[1] - 1)
        return int(np.maximum(self.lengths.astype(np.int64) - 1, 0).sum())

    @property
    def tokens(self) -> int:
        """Tokens of text in these rows (padding not counted)."""
        return int(self.ids.size if self.lengths is None else self.lengths.sum(dtype=np.int64))


class RowWriter:
    """Writes texts' token ids as rows of `length`: packed (a stream cut into full rows; the
    tail that fills no row is dropped) or one text per row, cut and padded with `pad_id`."""

    def __init__(
        self, sink: io.RawIOBase | io.BufferedIOBase, length: int, *, packed: bool, pad_id: int, dtype: np.dtype
    ) -> None:
        self.sink, self.length, self.packed, self.pad_id, self.dtype = sink, length, packed, pad_id, dtype
        self.written = 0  # token ids written
        self._lengths: list[np.ndarray] = []

    def add(self, token_lists: Iterable[list[int]]) -> None:
        """Append texts (their ids, EOS included) in order."""
        if self.packed:
            stream = np.fromiter((t for tokens in token_lists for t in tokens), dtype=self.dtype)
            self.sink.write(stream.tobytes())
            self.written += stream.size
            return
        token_lists = list(token_lists)
        rows = np.full((len(token_lists), self.length), self.pad_id, dtype=self.dtype)
        lengths = np.empty(len(token_lists), dtype=np.int32)
        for row, tokens in enumerate(token_lists):
            tokens = tokens[: self.length]
            rows[row, : len(tokens)] = tokens
            lengths[row] = len(tokens)
        self.sink.write(rows.tobytes())
        self.written += rows.size
        self._lengths.append(lengths)

    @property
    def rows(self) -> int:
        return self.written // self.length

    def lengths(self) -> np.ndarray | None:
        """Text tokens per row (None when packed)."""
        if self.packed:
            return None
        return np.concatenate(self._lengths) if self._lengths else np.zeros(0, dtype=np.int32)


def open_rows(path: Path, rows: int, length: int, dtype: np.dtype, lengths: np.ndarray | None) -> Blocks:
    """The rows a `RowWriter` wrote to `path`."""
    if rows == 0:
        return Blocks(np.zeros((0, length), dtype=dtype), lengths)
    file = open(path, "rb")  # noqa: SIM115 - open as long as the rows are used
    return Blocks(np.memmap(file, dtype=dtype, mode="r", shape=(rows, length)), lengths, file)


def rows_in_memory(
    token_lists: Iterable[list[int]], length: int, *, packed: bool, pad_id: int, dtype: np.dtype = UINT16
) -> Blocks:
    """Rows of a few texts (tests, held-out sets) built in memory."""
    buffer = io.BytesIO()
    writer = RowWriter(buffer, length, packed=packed, pad_id=pad_id, dtype=dtype)
    writer.add(token_lists)
    ids = np.frombuffer(buffer.getbuffer(), dtype=dtype)[: writer.rows * length].reshape(writer.rows, length)
    return Blocks(ids.copy(), writer.lengths())


def encode(tokenizer, texts: list[str], template: str) -> list[list[int]]:
    """Each text as the app prompts it (the tokenizer's BOS, if it adds one, and `template` in front),
    ending in EOS so the model learns to stop. A fast tokenizer encodes the batch on all cores,
    without the offsets transformers asks for."""
    from arxiv_tui.runtime.vocabulary import start_ids

    start = start_ids(tokenizer)
    prompts = [template + text for text in texts]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        encoded = [encoding.ids for encoding in backend.encode_batch_fast(prompts, add_special_tokens=False)]
    else:
        encoded = tokenizer(prompts, add_special_tokens=False, verbose=False)["input_ids"]
    return [[*start, *ids, tokenizer.eos_token_id] for ids in encoded]


def batches(blocks: Blocks, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive batches of rows (the last may be short), as (input_ids, labels)."""
    for start in range(0, len(blocks), batch_size):
        yield blocks.rows(slice(start, start + batch_size))
