"""Streaming generation of N alternatives at once, on the CPU.

One request prefills the prompt once (reusing the cached keys and values of the previous
prompt's common prefix), copies that cache to N rows, and then runs one batched forward pass
per step for all unfinished alternatives. Each alternative samples from its own random stream,
streams its own text deltas, and ends on its own (EOS, length, or the sentence-end rule); a
finished row leaves the batch. A new request, or the caller's cancel event, stops the current
one between two steps. This module does not import Textual: the app runs it in a child process
(`arxiv_tui.runtime.engine_child`), the command line in its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

import torch

from arxiv_tui.runtime.checkpoint import LoadedModel, load_model
from arxiv_tui.runtime.confidence import DraftScores, Scorer
from arxiv_tui.runtime.continuation import Alternative, finish_all
from arxiv_tui.runtime.fetch import FetchProgress
from arxiv_tui.runtime.kv_cache import Cache
from arxiv_tui.runtime.native.convert import ConversionProgress
from arxiv_tui.runtime.prompts import prompt_ids, shared_prefix, with_template
from arxiv_tui.runtime.registry import resolve_model
from arxiv_tui.runtime.rows import SampledRows
from arxiv_tui.runtime.settings import (
    FINISH_CANCELLED,
    Delta,
    GenerationSettings,
)

PREFILL_CHUNK = 256  # prompt tokens per forward pass: bounds attention memory, allows cancelling
_CACHE_SLACK = 64  # spare positions in the prompt cache, so typing on rarely reallocates it


class _PromptCache:
    """The last prompt's token ids and its one-row KV cache."""

    def __init__(self, ids: list[int], cache: Cache) -> None:
        self.ids = ids
        self.cache = cache

    def shared_prefix(self, ids: list[int]) -> int:
        """How many leading tokens `ids` shares with the cached prompt."""
        return shared_prefix(self.ids, ids)


class Run:
    """One request as it runs: iterating it yields each step's deltas; `alternatives` holds each
    alternative's whole state (tokens, text, end) as it grows."""

    def __init__(
        self, engine: Engine, text: str, settings: GenerationSettings, raw: bool, cancel: threading.Event
    ) -> None:
        self.engine, self.text, self.settings, self.raw, self.cancel = engine, text, settings, raw, cancel
        self.alternatives = [Alternative(i) for i in range(settings.n)]

    def __iter__(self) -> Iterator[list[Delta]]:
        with self.engine._run_lock, torch.inference_mode():
            yield from self.engine._run(self.text, self.settings, self.raw, self.cancel, self.alternatives)


class Engine:
    """Generates alternatives from a loaded model; one request runs at a time."""

    def __init__(self, loaded: LoadedModel, template: str | None = None) -> None:
        """`template` goes in front of every prompt; None for the one the model was trained with."""
        self.loaded = loaded
        self.template = loaded.template if template is None else template
        self.vocabulary = loaded.vocabulary
        self._prompt_cache: _PromptCache | None = None
        self._run_lock = threading.Lock()
        self.last_prefill_tokens = 0  # prompt tokens the last request had to compute
        self._scorer = Scorer()

    @classmethod
    def open(
        cls,
        name: str,
        precision: str = "auto",
        template: str | None = None,
        on_progress: Callable[[FetchProgress | ConversionProgress], None] | None = None,
        runtime: str = "auto",
    ) -> Engine:
        """Resolve a model name (directory, registered model or Hub id; a download reports its
        bytes to `on_progress`, and so does a first conversion for OpenVINO its blocks) and load
        it; `template` None keeps the model's own."""
        return cls(load_model(resolve_model(name, on_progress), precision, runtime, on_progress), template)

    @property
    def context_length(self) -> int:
        return self.loaded.context_length

    def encode(self, text: str) -> list[int]:
        # verbose=False: an over-long text is expected here, prompt_ids() cuts it to fit.
        ids: list[int] = self.loaded.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        return ids

    def prompt_ids(self, text: str, max_new_tokens: int, raw: bool = False) -> list[int]:
        """The prompt's token ids: template + text, cut from the left to leave room to generate."""
        budget = self.context_length - max_new_tokens
        return prompt_ids(
            text, self.template, raw, budget, self.encode, self.vocabulary.start_ids, self.vocabulary.first_end
        )

    def prompt_length(self, text: str, raw: bool = False) -> int:
        """Tokens of the prompt for `text` before any cut (a BOS and the template included)."""
        return len(self.vocabulary.start_ids) + len(self.encode(with_template(text, self.template, raw)))

    @property
    def token_table(self) -> Sequence[bytes]:
        """Raw bytes of each token id."""
        return self.vocabulary.token_bytes

    def score(self, text: str) -> DraftScores:
        """Per-token probabilities of a draft (see `arxiv_tui.runtime.confidence`); waits for a running request."""
        with self._run_lock, torch.inference_mode():
            return self._scorer.score(self, text)

    def forget_scores(self) -> None:
        """Drop the confidence view's remembered scores (benchmarks start from scratch)."""
        with self._run_lock:
            self._scorer = Scorer()

    def cache_for(self, ids: list[int], wanted: int) -> tuple[Cache, int]:
        """A one-row cache holding up to `wanted` leading tokens of `ids`, reused from the
        prompt cache where it shares them; returns (cache, tokens it holds)."""
        cached = self._prompt_cache
        self._prompt_cache = None  # being extended: never reused half-done
        reuse = min(cached.shared_prefix(ids), wanted) if cached else 0
        if cached and reuse:
            cached.cache.truncate(reuse)
            return cached.cache.grown(len(ids) + _CACHE_SLACK), reuse
        return self.loaded.model.new_cache(1, len(ids) + _CACHE_SLACK), 0

    def keep_cache(self, ids: list[int], cache: Cache) -> None:
        """Make `cache` (holding `ids`) the prompt cache the next request starts from."""
        self._prompt_cache = _PromptCache(ids, cache)

    def forget_prompt(self) -> None:
        """Drop the cached prompt, so the next request prefills from scratch."""
        with self._run_lock:
            self._prompt_cache = None

    def generate(self, text: str, settings: GenerationSettings, raw: bool = False) -> list[Alternative]:
        """Run a request to the end and return its alternatives."""
        run = self.stream(text, settings, raw=raw)
        for _ in run:
            pass
        return run.alternatives

    def stream(
        self, text: str, settings: GenerationSettings, raw: bool = False, cancel: threading.Event | None = None
    ) -> Run:
        """A request for N alternatives of the prompt `text`: iterate it for their deltas, step by
        step. Setting `cancel` (the caller's one way to stop it) ends it before its next step.
        ValueError at once for settings no request can honour."""
        settings.validate(self.context_length)
        return Run(self, text, settings, raw, cancel or threading.Event())

    def prefill(self, text: str, max_new_tokens: int) -> None:
        """Compute the prompt cache for `text` ahead of a request for it (or for more of it)."""
        with self._run_lock, torch.inference_mode():
            self._prefill(self.prompt_ids(text, max_new_tokens), threading.Event())

    def prefilled(
        self, text: str, max_new_tokens: int, cancel: threading.Event
    ) -> tuple[list[int], torch.Tensor, Cache] | None:
        """Prefill the prompt for `text` (reusing the cached prefix): its ids, the logits after it
        [1, vocab] and its one-row cache, which stays the prompt cache; None if cancelled."""
        with self._run_lock, torch.inference_mode():
            ids = self.prompt_ids(text, max_new_tokens)
            logits = self._prefill(ids, cancel)
            if logits is None or self._prompt_cache is None:
                return None
            return ids, logits, self._prompt_cache.cache

    def _prefill(self, ids: list[int], cancel: threading.Event) -> torch.Tensor | None:
        """Logits after the prompt [1, vocab], reusing the cached prefix; None if cancelled."""
        model = self.loaded.model
        cache, reuse = self.cache_for(ids, len(ids) - 1)  # half-filled while we work: not reused if cancelled
        self.last_prefill_tokens = len(ids) - reuse
        logits = None
        for start in range(reuse, len(ids), PREFILL_CHUNK):
            if cancel.is_set():
                return None
            logits = model(torch.tensor([ids[start : start + PREFILL_CHUNK]]), cache)
        self._prompt_cache = _PromptCache(ids, cache)
        return logits

    def _run(
        self,
        text: str,
        settings: GenerationSettings,
        raw: bool,
        cancel: threading.Event,
        alternatives: list[Alternative],
    ) -> Iterator[list[Delta]]:
        ids = self.prompt_ids(text, settings.max_new_tokens, raw)
        logits = self._prefill(ids, cancel)
        if logits is None:
            yield finish_all(alternatives, FINISH_CANCELLED)
            return
        n = settings.n
        logits = logits.expand(n, -1)
        assert self._prompt_cache is not None  # `_prefill` left it
        cache = self._prompt_cache.cache.expanded(n, len(ids) + settings.max_new_tokens)
        rows = SampledRows(self.vocabulary, settings, ids, alternatives)
        while True:
            deltas = rows.sample(logits)
            if deltas:
                yield deltas
            if rows.done:
                return
            if cancel.is_set():
                yield finish_all(alternatives, FINISH_CANCELLED)
                return
            keep = rows.leave_finished()
            if keep is not None:  # finished rows leave the batch
                cache.keep_rows(keep)
            logits = self.loaded.model(rows.tokens[:, None], cache)
