"""Token ids to text deltas that never show half a character.

GPT-2's byte-level BPE can split one character (é, ≤, 中) over several tokens; decoding each
token alone shows U+FFFD. Each token's raw bytes go through an incremental UTF-8 decoder that
holds back an incomplete sequence until the rest arrives, so the cost per token is constant.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from typing import Any


class ByteLevelTable:
    """The raw bytes of every token id of a byte-level BPE tokenizer (special tokens: none)."""

    def __init__(self, token_bytes: Sequence[bytes]) -> None:
        self.token_bytes = token_bytes

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> ByteLevelTable:  # a transformers tokenizer
        """Build the table; ValueError if the tokenizer is not byte-level."""
        from transformers.convert_slow_tokenizer import bytes_to_unicode

        byte_of = {char: byte for byte, char in bytes_to_unicode().items()}
        special = set(tokenizer.all_special_ids)
        table: list[bytes] = []
        for token_id, token in enumerate(tokenizer.convert_ids_to_tokens(range(len(tokenizer)))):
            if token_id in special or token is None:
                table.append(b"")
                continue
            try:
                table.append(bytes(byte_of[char] for char in token))
            except KeyError:
                if token_id in tokenizer.added_tokens_decoder:  # user-added words are plain text
                    table.append(token.encode("utf-8"))
                    continue
                raise ValueError(f"the tokenizer is not byte-level BPE (token {token_id} is {token!r})") from None
        return cls(table)


class Detokenizer:
    """Feeds one alternative's tokens and returns the text each one completes."""

    def __init__(self, table: ByteLevelTable) -> None:
        self._table = table.token_bytes
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_id: int) -> str:
        """The new complete characters after `token_id` (may be empty)."""
        return self._decoder.decode(self._table[token_id])

    def flush(self) -> str:
        """What is left at the end: a dangling partial character becomes U+FFFD only here."""
        return self._decoder.decode(b"", final=True)
