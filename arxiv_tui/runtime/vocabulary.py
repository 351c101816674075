"""What the engine needs from a model's tokenizer: each id's bytes, what starts a text, what ends one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arxiv_tui.runtime.detokenize import token_bytes, tokenizer_kind

_PROBE = "We propose a method."


@dataclass(frozen=True)
class Vocabulary:
    kind: str  # detokenize.BYTE_LEVEL or SENTENCEPIECE
    token_bytes: list[bytes]  # raw bytes of every id the model can produce
    start_ids: tuple[int, ...]  # what the tokenizer puts before a text (BOS), kept in front of every prompt
    end_ids: frozenset[int]  # every id that ends a row: the tokenizer's EOS and the generation config's

    @property
    def first_end(self) -> int | None:
        """An end id to stand in for an empty prompt (GPT-2's <|endoftext|> starts texts too)."""
        return min(self.end_ids) if self.end_ids else None


def start_ids(tokenizer: Any) -> tuple[int, ...]:
    """The ids the tokenizer adds in front of a text (Llama's and Mistral's BOS; none for GPT-2
    and Qwen), found by encoding a sentence with and without its special tokens."""
    plain = tokenizer(_PROBE, add_special_tokens=False)["input_ids"]
    full = tokenizer(_PROBE)["input_ids"]
    for offset in range(len(full) - len(plain) + 1):
        if full[offset : offset + len(plain)] == plain:
            return tuple(full[:offset])
    return ()


def end_ids(tokenizer: Any, directory: Path) -> frozenset[int]:
    """The tokenizer's EOS and every EOS the model's generation_config.json lists (Llama 3 and
    Qwen chat models end turns with more than one)."""
    from transformers import GenerationConfig

    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    try:
        listed = GenerationConfig.from_pretrained(directory).eos_token_id
    except (OSError, ValueError):  # no generation_config.json, or one that does not parse
        listed = None
    if isinstance(listed, int):
        ids.add(listed)
    elif isinstance(listed, list):
        ids.update(i for i in listed if isinstance(i, int))
    return frozenset(ids)


def read_vocabulary(tokenizer: Any, vocab_size: int, directory: Path) -> Vocabulary:
    """The vocabulary of `tokenizer` over the model's `vocab_size` ids; ValueError if the
    tokenizer is of a kind the engine cannot stream."""
    return Vocabulary(
        tokenizer_kind(tokenizer),
        token_bytes(tokenizer, vocab_size),
        start_ids(tokenizer),
        end_ids(tokenizer, directory),
    )
