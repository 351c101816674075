"""Token blocks for training and evaluation: abstracts packed end to end, or one per row."""

from __future__ import annotations

from dataclasses import dataclass

import torch

IGNORE = -100  # label of positions the loss skips (padding)


@dataclass
class Blocks:
    """Rows of token ids and their labels (IGNORE where a row is padding)."""

    input_ids: torch.Tensor  # [rows, length], int64
    labels: torch.Tensor  # [rows, length], int64

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    @property
    def target_tokens(self) -> int:
        """How many next-token predictions these rows score (the first token of a row has none)."""
        return int((self.labels[:, 1:] != IGNORE).sum())


def encode(tokenizer, texts: list[str], template: str) -> list[list[int]]:
    """Each text as the app prompts it (`template` in front), ending in EOS so the model learns to stop."""
    encoded = tokenizer([template + text for text in texts], add_special_tokens=False, verbose=False)["input_ids"]
    return [ids + [tokenizer.eos_token_id] for ids in encoded]


def pack(token_lists: list[list[int]], length: int) -> Blocks:
    """Concatenate all texts and cut full rows of `length` tokens: no padding. The tail is dropped."""
    stream = [token for tokens in token_lists for token in tokens]
    rows = len(stream) // length
    ids = torch.tensor(stream[: rows * length], dtype=torch.long).view(rows, length)
    return Blocks(ids, ids.clone())


def pad(token_lists: list[list[int]], length: int, pad_id: int) -> Blocks:
    """One text per row, cut to `length` tokens, padded on the right (labels IGNORE there)."""
    ids = torch.full((len(token_lists), length), pad_id, dtype=torch.long)
    labels = torch.full((len(token_lists), length), IGNORE, dtype=torch.long)
    for row, tokens in enumerate(token_lists):
        tokens = tokens[:length]
        ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        labels[row, : len(tokens)] = ids[row, : len(tokens)]
    return Blocks(ids, labels)


def batches(blocks: Blocks, batch_size: int):
    """Consecutive batches of rows (the last may be short), as (input_ids, labels)."""
    for start in range(0, len(blocks), batch_size):
        yield blocks.input_ids[start:start + batch_size], blocks.labels[start:start + batch_size]
