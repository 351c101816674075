"""Several requests sharing each decode step, for `serve`.

A request joins the batch once its prompt is prefilled (on its own, reusing the engine's prompt
cache) and leaves when its last alternative ends or its client goes away (at the next step).
Each request samples its own rows with its own settings and seed, so its alternatives are what
it would get alone. Requests join in the order they came while their rows fit under the bound;
a request wider than the bound runs alone.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import torch

from arxiv_tui.runtime.continuation import Alternative, finish_all
from arxiv_tui.runtime.engine import Engine
from arxiv_tui.runtime.native.batch import RowBatch
from arxiv_tui.runtime.native.model import NativeCache, NativeModel
from arxiv_tui.runtime.rows import SampledRows
from arxiv_tui.runtime.settings import FINISH_CANCELLED, Delta, GenerationSettings


def can_batch(engine: Engine) -> bool:
    """Whether `engine`'s runtime keeps the rows of several requests in one state (OpenVINO)."""
    return isinstance(engine.loaded.model, NativeModel)


@dataclass(eq=False)
class BatchedRequest:
    """One request in the batch: its text, settings and cancel event, and its rows once it joined."""

    text: str
    settings: GenerationSettings
    cancel: threading.Event = field(default_factory=threading.Event)
    alternatives: list[Alternative] = field(default_factory=list)
    rows: SampledRows | None = None

    @property
    def done(self) -> bool:
        return self.rows is not None and self.rows.done


class Batch:
    """The requests whose rows step together, at most `max_rows` rows (but always one request)."""

    def __init__(self, engine: Engine, max_rows: int) -> None:
        assert can_batch(engine)
        self.engine, self.max_rows = engine, max_rows
        model = engine.loaded.model
        assert isinstance(model, NativeModel)
        self._state = RowBatch(model)
        self.requests: list[BatchedRequest] = []  # in row order: each one's active rows together

    @property
    def rows(self) -> int:
        return self._state.rows

    def fits(self, request: BatchedRequest) -> bool:
        return not self.requests or self.rows + request.settings.n <= self.max_rows

    def admit(self, request: BatchedRequest) -> list[Delta]:
        """Prefill `request`'s prompt and sample its first tokens; its rows join the batch unless
        they all ended at once. ValueError for settings no request can honour."""
        request.settings.validate(self.engine.context_length)
        request.alternatives = [Alternative(i) for i in range(request.settings.n)]
        prefilled = self.engine.prefilled(request.text, request.settings.max_new_tokens, request.cancel)
        if prefilled is None:
            request.rows = SampledRows(self.engine.vocabulary, request.settings, [], request.alternatives)
            return finish_all(request.alternatives, FINISH_CANCELLED)
        ids, logits, cache = prefilled
        assert isinstance(cache, NativeCache)
        rows = request.rows = SampledRows(self.engine.vocabulary, request.settings, ids, request.alternatives)
        with torch.inference_mode():
            deltas = rows.sample(logits.expand(request.settings.n, -1))
            rows.leave_finished()
        if not rows.done:
            self._state.add(cache, len(rows.active))
            self.requests.append(request)
        return deltas

    def step(self) -> list[tuple[BatchedRequest, list[Delta]]]:
        """One decode step for every row; each request with what became visible. Requests whose
        client left end (cancelled) before the step; finished ones leave the batch after it."""
        cancelled = [r for r in self.requests if r.cancel.is_set()]
        events = [(request, finish_all(request.alternatives, FINISH_CANCELLED)) for request in cancelled]
        if cancelled:
            self._leave(sampled=False)
        if not self.requests:
            return events
        with torch.inference_mode():
            tokens = torch.cat([self._rows_of(r).tokens for r in self.requests])
            logits = self._state.step(tokens)
            start = 0
            for request in self.requests:
                rows = self._rows_of(request)
                count = len(rows.active)
                events.append((request, rows.sample(logits[start : start + count])))
                start += count
            self._leave(sampled=True)
        return events

    def _rows_of(self, request: BatchedRequest) -> SampledRows:
        assert request.rows is not None  # set when it was admitted
        return request.rows

    def _leave(self, sampled: bool) -> None:
        """Drop the requests that ended (and, before a step, those cancelled) and, right after a
        sample, the rows that it finished (a request's `leave_finished` runs once per sample)."""
        keep: list[int] = []
        start = 0
        staying = []
        for request in self.requests:
            rows = self._rows_of(request)
            count = len(rows.active)
            if rows.done or (request.cancel.is_set() and not sampled):  # a cancel during a step: the next ends it
                start += count
                continue
            kept = rows.leave_finished() if sampled else None
            keep += [start + row for row in (kept.tolist() if kept is not None else range(count))]
            start += count
            staying.append(request)
        if len(keep) < self.rows:
            self._state.keep(keep)
        self.requests = staying
