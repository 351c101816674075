"""How likely the model finds each token of a draft: one forward pass over it, reusing work.

`Scorer` keeps the last draft's per-token results; a new draft that shares a prefix with it
only computes the positions after that prefix, on top of the engine's KV cache of the same
prefix (and leaves that cache covering the whole draft, which the next generation reuses).
Spans are character offsets in the draft, so the UI can colour the text the user typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from arxiv_tui.runtime.prompts import shared_prefix

if TYPE_CHECKING:  # the engine uses the scorer: its types only, for the checker
    from arxiv_tui.runtime.engine import Engine
    from arxiv_tui.runtime.kv_cache import Cache

Top = tuple[tuple[int, float], ...]  # the likeliest tokens at a position: (id, p)

TOP_K = 8  # replacements offered for a token
# Logits held at once: 256 positions of GPT-2's 50,257 (51 MB); a 152k vocabulary gets 84 positions.
LOGITS_PER_PASS = 256 * 50257


@dataclass(frozen=True)
class TokenScore:
    start: int  # character span of the token in the draft
    end: int
    prob: float  # p(token | everything before it)
    top: Top  # the model's likeliest tokens at this position


@dataclass
class DraftScores:
    text: str
    tokens: list[TokenScore]
    computed: int  # positions this pass ran the model on (the rest were reused)


def char_offsets(text: str) -> list[int]:
    """For every byte offset of `text` in UTF-8, the character offset it falls in."""
    offsets = []
    for index, char in enumerate(text):
        offsets.extend([index] * len(char.encode("utf-8")))
    offsets.append(len(text))
    return offsets


def token_spans(token_bytes: list[bytes], skip_bytes: int, text: str) -> list[tuple[int, int] | None]:
    """Character spans in `text` of tokens whose bytes follow `skip_bytes` bytes of template
    (None for a token entirely in the template)."""
    chars = char_offsets(text)
    limit = len(chars) - 1
    spans, position = [], -skip_bytes
    for piece in token_bytes:
        start, position = position, position + len(piece)
        inside = position > 0
        spans.append((chars[min(max(start, 0), limit)], chars[min(position, limit)]) if inside else None)
    return spans


@dataclass
class _Memo:
    ids: list[int]
    probs: list[float]  # probs[j]: of token j (0 for the first)
    top: list[tuple[tuple[int, float], ...]]


class Scorer:
    """Per-token probabilities of drafts for one engine (call under the engine's run lock)."""

    def __init__(self) -> None:
        self._memo: _Memo | None = None

    def score(self, engine: Engine, text: str) -> DraftScores:
        ids = [*engine.vocabulary.start_ids, *engine.encode(engine.template + text)]
        dropped = max(0, len(ids) - engine.context_length)  # a very long draft: its last window
        window = ids[dropped:]
        memo = self._memo if not dropped else None
        reused = min(shared_prefix(memo.ids, window), len(window)) if memo else 1
        cache, cached = engine.cache_for(window, max(reused - 1, 0))
        start = max(1, min(reused, cached + 1))  # first token scored in this pass
        probs, top = self._run(engine, window, start, cache)
        if memo:
            probs, top = memo.probs[:start] + probs, memo.top[:start] + top
        else:
            probs, top = [0.0, *probs], [(), *top]
        self._memo = None if dropped else _Memo(window, probs, top)
        table = engine.token_table
        # What the window's bytes hold before the draft: the template, and the space a
        # SentencePiece tokenizer puts in front of a text; negative where the window cuts into it.
        skip = sum(len(table[t]) for t in window) - len(text.encode("utf-8"))
        spans = token_spans([table[t] for t in window], skip, text)
        return DraftScores(text, _merge_partial_characters(spans, probs, top), computed=len(window) - start + 1)

    @staticmethod
    def _run(engine: Engine, window: list[int], start: int, cache: Cache) -> tuple[list[float], list[Top]]:
        """Scores of tokens start.. of `window`, running positions start-1.. on `cache`."""
        import torch  # here, not at the top: the app imports this module's dataclasses at start-up

        model = engine.loaded.model
        probs: list[float] = []
        top: list[Top] = []
        positions = max(16, LOGITS_PER_PASS // len(engine.token_table))
        for chunk_start in range(start - 1, len(window), positions):
            chunk = window[chunk_start : chunk_start + positions]
            logits = model(torch.tensor([chunk]), cache, all_positions=True)[0]
            targets = window[chunk_start + 1 : chunk_start + 1 + len(chunk)]
            log_probs = torch.log_softmax(logits[: len(targets)], dim=-1)
            probs += log_probs.gather(1, torch.tensor(targets)[:, None])[:, 0].exp().tolist()
            best = log_probs.topk(TOP_K, dim=-1)
            top += [
                tuple(zip(i, p, strict=True))
                for i, p in zip(best.indices.tolist(), best.values.exp().tolist(), strict=True)
            ]
        engine.keep_cache(window, cache)
        return probs, top


def _merge_partial_characters(
    spans: list[tuple[int, int] | None], probs: list[float], top: list[Top]
) -> list[TokenScore]:
    """TokenScores of the draft's tokens (the first, a template token, has none). A token holding
    only part of a character (é over two byte tokens) shows no text of its own: it joins the next,
    whose probability becomes that of both, and whose replacements are those offered at the first."""
    tokens: list[TokenScore] = []
    pending_prob, pending_top = 1.0, None
    for j in range(1, len(spans)):
        span = spans[j]
        if span is None:
            continue
        start, end = span
        if end <= start:
            pending_prob *= probs[j]
            pending_top = pending_top or top[j]
            continue
        tokens.append(TokenScore(start, end, probs[j] * pending_prob, pending_top or top[j]))
        pending_prob, pending_top = 1.0, None
    return tokens
