"""An OpenAI-compatible server (vLLM, SGLang, llama.cpp's llama-server, `arxiv-tui serve`) through
the official `openai` client: its SSE parsing, typed errors and timeouts, no hand-written HTTP.

Text completions (`/v1/completions`), not chat: the writer's draft is continued as it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from arxiv_tui.runtime.confidence import TOP_K, DraftScores, TokenScore
from arxiv_tui.runtime.remote.errors import RemoteError, describe
from arxiv_tui.runtime.remote.run import Piece, Request, resolve_model
from arxiv_tui.runtime.settings import GenerationSettings

CONNECT_S, READ_S = 5.0, 60.0  # a host that never answers fails in seconds; a slow token, in a minute


class _Pieces:
    """The pieces of one streamed completion, its choices' indexes shifted by `offset`."""

    def __init__(self, stream: Any, offset: int) -> None:
        self._stream, self._offset = stream, offset

    def __iter__(self) -> Iterator[Piece]:
        for chunk in self._stream:
            for c in chunk.choices:  # a final usage chunk has none
                yield self._offset + c.index, c.text or "", c.finish_reason

    def close(self) -> None:
        self._stream.close()


class OpenAIServer:
    def __init__(self, base_url: str, model: str | None, api_key: str | None) -> None:
        import httpx2
        import openai

        self.name = base_url
        self.client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or "no-key",  # a server without keys ignores it; the client insists on one
            max_retries=0,  # the writer retries (Ctrl+R); a hidden retry only looks like a hang
            timeout=httpx2.Timeout(READ_S, connect=CONNECT_S),
        )
        self.model = model or ""
        self._honours_n = True

    def connect(self) -> None:
        """Check the server answers, and take the first model it lists when none was named."""
        hint = f"{self.name} lists no models; name one with --api-model"
        self.model = resolve_model(self.name, self.model, lambda: [m.id for m in self.client.models.list().data], hint)

    def ignores_n(self) -> None:
        self._honours_n = False

    def plan(self, prompt: str, settings: GenerationSettings, indexes: list[int]) -> list[Request]:
        if len(indexes) > 1 and self._honours_n:
            return [Request(indexes, partial(self._open, prompt, settings, len(indexes), indexes[0]))]
        return [Request([i], partial(self._open, prompt, settings, 1, i)) for i in indexes]

    def score(self, draft: str, template: str, intern: Callable[[str], int]) -> DraftScores:
        """The confidence view's scores of `draft` from the server's log-probabilities of the prompt
        (`echo` with `logprobs`, as vLLM and `arxiv-tui serve` give them); `intern` turns each
        likely token's text into an id of the client's token table. RemoteError if refused."""
        try:
            out = self.client.completions.create(
                model=self.model, prompt=template + draft, max_tokens=0, echo=True, logprobs=TOP_K
            )
            logprobs = out.choices[0].logprobs
        except Exception as exc:  # noqa: BLE001 - every failure becomes one line
            raise describe(exc, self.name, self.model) from None
        if logprobs is None or not logprobs.tokens or logprobs.text_offset is None:
            raise RemoteError(f"{self.name} gave no log-probabilities for the prompt", 2)
        skip = len(template)
        ends = [*logprobs.text_offset[1:], len(template + draft)]
        scored = []
        for start, end, logprob, top in zip(
            logprobs.text_offset, ends, logprobs.token_logprobs or [], logprobs.top_logprobs or [], strict=False
        ):
            if logprob is None or end <= skip:
                continue  # the opening token, or the template's
            likely = sorted((top or {}).items(), key=lambda item: -item[1])
            best = tuple((intern(text), math.exp(value)) for text, value in likely)
            scored.append(TokenScore(max(start - skip, 0), end - skip, math.exp(logprob), best))
        return DraftScores(draft, scored, computed=len(logprobs.tokens))

    def _open(self, prompt: str, settings: GenerationSettings, n: int, offset: int) -> _Pieces:
        s = settings.sampling
        seed = None if settings.seed is None else settings.seed + offset  # one request each: distinct streams
        stream = self.client.completions.create(
            model=self.model,
            prompt=prompt,
            max_tokens=settings.max_new_tokens,
            n=n,
            temperature=0.0 if s.is_greedy else s.temperature,
            top_p=1.0 if s.is_greedy else s.top_p,
            seed=seed,
            stop=list(settings.stop) or None,
            stream=True,
            extra_body={"top_k": s.top_k} if s.top_k and not s.is_greedy else None,  # vLLM's, llama.cpp's
        )
        return _Pieces(stream, offset)
