"""The engine's thread: requests from every client wait in one queue and run in turn.

`serve` runs it on the process's main thread, and the HTTP server on another: torch's OpenMP
team spins between parallel regions only while the process has no more of its threads than
cores, and a second team (the engine on a thread of its own, beside the main thread's) made
every request 40% slower here (0.64 s -> 0.90 s for 3 x 60 tokens on the distilgpt2 shape).

The engine runs one request at a time (its prompt cache is one prompt's), so requests are served
first come, first served, each with its N alternatives batched. A bound on the waiting requests
turns an overload into an answer (503 with Retry-After) instead of a growing wait. A client that
goes away sets its request's cancel event: the engine stops it at its next step, or skips it if
it was still waiting.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

from arxiv_tui.runtime.settings import Delta, GenerationSettings

if TYPE_CHECKING:
    from arxiv_tui.runtime.batching import BatchedRequest
    from arxiv_tui.runtime.confidence import DraftScores
    from arxiv_tui.runtime.continuation import Alternative
    from arxiv_tui.runtime.engine import Engine


@dataclass(frozen=True)
class Finished:
    alternatives: list[Alternative]


@dataclass(frozen=True)
class Failed:
    message: str


JobEvent: TypeAlias = "list[Delta] | Finished | Failed | DraftScores"  # what a request's handler receives


@dataclass
class Job:
    """One request: generate N alternatives of `prompt`, or (without settings) score it."""

    prompt: str
    settings: GenerationSettings | None
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue[JobEvent] = field(default_factory=asyncio.Queue)
    cancel: threading.Event = field(default_factory=threading.Event)

    def post(self, event: JobEvent) -> None:
        """Hand `event` to the request's handler on the server's event loop."""
        self.loop.call_soon_threadsafe(self.events.put_nowait, event)


# Rows of all requests in one decode step: 8 editors asking for 3 alternatives each share every
# step, so none waits for another to finish; a step of many rows costs far less than as many
# steps of few (docs/performance.md).
MAX_BATCH_ROWS = 32


class Busy(Exception):
    """The queue is full: try again shortly."""


class EngineWorker:
    def __init__(
        self,
        engine: Engine,
        max_waiting: int = 16,
        on_done: Callable[[list[Alternative], float], object] | None = None,
    ) -> None:
        """`on_done` hears of each generation that ran: its alternatives and its seconds (the log)."""
        self.engine = engine
        self.max_waiting = max_waiting
        self.on_done = on_done
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._waiting = 0
        self._lock = threading.Lock()
        self.running: Job | None = None  # the request the engine works on

    def submit(self, job: Job) -> None:
        """Queue `job`; Busy if `max_waiting` requests wait already."""
        with self._lock:
            if self._waiting >= self.max_waiting:
                raise Busy
            self._waiting += 1
        self._jobs.put(job)

    def stop(self) -> None:
        """End `run` after the request it runs, which stops at its next step."""
        self._jobs.put(None)
        running = self.running
        if running is not None:
            running.cancel.set()

    def run(self) -> None:
        """Serve the queue on the calling thread until `stop`."""
        while (job := self._jobs.get()) is not None:
            with self._lock:
                self._waiting -= 1
            if job.cancel.is_set():  # its client left while it waited
                continue
            self.running = job
            try:
                self._run(job)
            except Exception as exc:  # noqa: BLE001 - the client hears of it; the server goes on
                job.post(Failed(f"{type(exc).__name__}: {exc}"))
            finally:
                self.running = None

    def _run(self, job: Job) -> None:
        if job.settings is None:
            job.post(self.engine.score(job.prompt))
            return
        started = time.perf_counter()
        run = self.engine.stream(job.prompt, job.settings, cancel=job.cancel)
        for deltas in run:
            job.post(deltas)
        if self.on_done is not None:  # before the client hears the end: the log never lags behind it
            self.on_done(run.alternatives, time.perf_counter() - started)
        job.post(Finished(run.alternatives))


class BatchWorker(EngineWorker):
    """The engine's thread when its runtime batches (OpenVINO): the rows of up to `max_rows`
    alternatives of several requests share each decode step. Requests join in the order they
    came, each as soon as its rows fit; a client that leaves frees its rows at the next step."""

    def __init__(
        self,
        engine: Engine,
        max_waiting: int = 16,
        on_done: Callable[[list[Alternative], float], object] | None = None,
        max_rows: int = MAX_BATCH_ROWS,
    ) -> None:
        from arxiv_tui.runtime.batching import Batch

        super().__init__(engine, max_waiting, on_done)
        self.batch = Batch(engine, max_rows)
        self._queued: collections.deque[Job] = collections.deque()  # taken from the queue, not yet joined
        self._joined: dict[BatchedRequest, tuple[Job, float]] = {}  # each request's job and start
        self._stopping = False

    def stop(self) -> None:
        """End `run`: the requests in the batch stop at its next step."""
        self._jobs.put(None)

    def run(self) -> None:
        while not self._stopping or self._joined:
            self._take(block=not self._joined and not self._queued)
            self._admit()
            if self._joined:
                self._step()

    def _take(self, block: bool) -> None:
        """Move what waits in the queue to `_queued` (waiting for one item if `block`)."""
        while True:
            try:
                job = self._jobs.get(block=block and not self._stopping)
            except queue.Empty:
                return
            block = False
            if job is None:
                self._stopping = True
                for waiting, _ in self._joined.values():
                    waiting.cancel.set()
                return
            self._queued.append(job)  # still waiting (and counted) until it joins

    def _admit(self) -> None:
        """Let queued requests join in order while their rows fit; score drafts on the way."""
        from arxiv_tui.runtime.batching import BatchedRequest

        while self._queued and not self._stopping:
            job = self._queued[0]
            request = BatchedRequest(job.prompt, job.settings, job.cancel) if job.settings else None
            if request is not None and not job.cancel.is_set() and not self.batch.fits(request):
                return
            self._queued.popleft()
            with self._lock:
                self._waiting -= 1
            if job.cancel.is_set():  # its client left while it waited
                continue
            if request is None:
                self._guarded(job, functools.partial(self._score, job))
                continue
            started = time.perf_counter()
            self._joined[request] = (job, started)
            if not self._guarded(job, functools.partial(self._join, request)):
                del self._joined[request]

    def _score(self, job: Job) -> None:
        job.post(self.engine.score(job.prompt))

    def _join(self, request: BatchedRequest) -> None:
        self._post(request, self.batch.admit(request))

    def _step(self) -> None:
        try:
            events = self.batch.step()
        except Exception as exc:  # noqa: BLE001 - every client in the batch hears of it; the server goes on
            for job, _ in self._joined.values():
                job.post(Failed(f"{type(exc).__name__}: {exc}"))
            self._joined.clear()
            self.batch = type(self.batch)(self.engine, self.batch.max_rows)
            return
        for request, deltas in events:
            self._post(request, deltas)

    def _post(self, request: BatchedRequest, deltas: list[Delta]) -> None:
        """Hand `deltas` to the request's client, and its end once it ended."""
        job, started = self._joined[request]
        if deltas:
            job.post(deltas)
        if request.done:
            del self._joined[request]
            if self.on_done is not None:  # before the client hears the end: the log never lags behind it
                self.on_done(request.alternatives, time.perf_counter() - started)
            job.post(Finished(request.alternatives))

    @staticmethod
    def _guarded(job: Job, work: Callable[[], object]) -> bool:
        """Run `work` for `job`; a failure is the client's to hear (False), not the server's."""
        try:
            work()
            return True
        except Exception as exc:  # noqa: BLE001 - the client hears of it; the server goes on
            job.post(Failed(f"{type(exc).__name__}: {exc}"))
            return False


def engine_worker(
    engine: Engine,
    max_waiting: int = 16,
    on_done: Callable[[list[Alternative], float], object] | None = None,
    max_rows: int = 16,
) -> EngineWorker:
    """The worker for `engine`: one that batches requests where its runtime can, else one that
    runs them in turn."""
    from arxiv_tui.runtime.batching import can_batch

    if can_batch(engine):
        return BatchWorker(engine, max_waiting, on_done, max_rows)
    return EngineWorker(engine, max_waiting, on_done)
