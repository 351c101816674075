"""Token ids to text deltas that never show half a character, for both kinds of tokenizer.

Byte-level BPE (GPT-2, Llama 3, Qwen, SmolLM) can split one character (é, ≤, 中) over several
tokens, and so can a SentencePiece vocabulary's byte-fallback pieces (`<0xE2>`); decoding each
token alone shows U+FFFD. Each token's raw bytes go through an incremental UTF-8 decoder that
holds back an incomplete sequence until the rest arrives, so the cost per token is constant.
SentencePiece's `▁` is the space it stands for: a continuation is text after the prompt, so a
piece's leading space is kept (the tokenizer's own `decode` drops it at the start of a text).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Sequence
from typing import Any

BYTE_LEVEL, SENTENCEPIECE = "byte-level", "sentencepiece"
_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def tokenizer_kind(tokenizer: Any) -> str:
    """Which kind of vocabulary a transformers tokenizer has, read from its decoder; ValueError
    for any other kind."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = json.loads(backend.to_str()).get("decoder") if backend is not None else None
    described = json.dumps(decoder)
    if '"ByteLevel"' in described:
        return BYTE_LEVEL
    if any(f'"{kind}"' in described for kind in ("Metaspace", "ByteFallback", "Replace")):
        return SENTENCEPIECE
    raise ValueError("the tokenizer is neither byte-level BPE nor SentencePiece-style (its decoder is unknown)")


def _byte_level_bytes(token: str, byte_of: dict[str, int]) -> bytes:
    return bytes(byte_of[char] for char in token)


def _sentencepiece_bytes(token: str) -> bytes:
    piece = _BYTE_PIECE.fullmatch(token)
    return bytes([int(piece.group(1), 16)]) if piece else token.replace("▁", " ").encode("utf-8")


def token_bytes(tokenizer: Any, vocab_size: int) -> list[bytes]:
    """The raw bytes of every id below `vocab_size` (special tokens and ids the tokenizer does not
    use, which models pad their vocabulary with: none). ValueError for an unknown kind."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    kind = tokenizer_kind(tokenizer)
    byte_of = {char: byte for byte, char in bytes_to_unicode().items()}
    special = set(tokenizer.all_special_ids)
    added = tokenizer.added_tokens_decoder
    known = min(len(tokenizer), vocab_size)
    table: list[bytes] = []
    for token_id, token in enumerate(tokenizer.convert_ids_to_tokens(range(known))):
        if token_id in special or token is None:
            table.append(b"")
        elif token_id in added:  # user-added words are plain text
            table.append(token.encode("utf-8"))
        elif kind == SENTENCEPIECE:
            table.append(_sentencepiece_bytes(token))
        else:
            try:
                table.append(_byte_level_bytes(token, byte_of))
            except KeyError:
                raise ValueError(f"the tokenizer is not byte-level BPE (token {token_id} is {token!r})") from None
    return table + [b""] * (vocab_size - known)


class Detokenizer:
    """Feeds one alternative's tokens and returns the text each one completes."""

    def __init__(self, table: Sequence[bytes]) -> None:
        self._table = table
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_id: int) -> str:
        """The new complete characters after `token_id` (may be empty)."""
        return self._decoder.decode(self._table[token_id])

    def flush(self) -> str:
        """What is left at the end: a dangling partial character becomes U+FFFD only here."""
        return self._decoder.decode(b"", final=True)
