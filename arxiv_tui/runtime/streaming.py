"""A request's life on whichever side generates it, the engine's child process or the thread that
talks to a completion server: the work queue where a newer request supersedes a waiting one, and
the streaming of one request's deltas to the app in batches.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from arxiv_tui.runtime.protocol import Cancel, Generate, Progress
from arxiv_tui.runtime.settings import GenerationSettings

if TYPE_CHECKING:
    from arxiv_tui.runtime.continuation import StreamingRun
    from arxiv_tui.runtime.copyguard.record import Copy

# How often streamed deltas go to the UI. Each frame the UI draws takes CPU from the engine's two
# threads, and a thread held up holds up both (they meet at the end of every op): on 2 cores, 10
# frames a second instead of 20 made a 3 x 60-token request 1.14-1.16x headless, from 1.21-1.24x.
BATCH_S = 0.1


class Streams(Protocol):
    """A generator of alternatives: the local engine, or a completion server's adapter."""

    def stream(self, text: str, settings: GenerationSettings, *, cancel: threading.Event) -> StreamingRun: ...


class Inbox:
    """Work for the engine's main thread, filled by the receiver thread.

    A generation waits only until the next one arrives: a newer request (or a Cancel) drops a
    waiting one and sets the running one's cancel event. Confidence passes wait their turn.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._waiting: deque[tuple[object, threading.Event]] = deque()
        self._running: threading.Event | None = None
        self._closed = False

    def put(self, request: object) -> None:
        with self._changed:
            if isinstance(request, (Generate, Cancel)):
                self._waiting = deque(item for item in self._waiting if not isinstance(item[0], Generate))
                if self._running is not None:
                    self._running.set()
            if not isinstance(request, Cancel):
                self._waiting.append((request, threading.Event()))
                self._changed.notify()

    def take(self) -> tuple[object, threading.Event] | None:
        """The next request and its cancel event; None once closed."""
        with self._changed:
            self._running = None
            while not self._waiting and not self._closed:
                self._changed.wait()
            if self._closed:
                return None
            request, cancel = self._waiting.popleft()
            self._running = cancel
            return request, cancel

    def close(self) -> None:
        """The app has gone: stop what runs and hand out nothing more."""
        with self._changed:
            self._closed = True
            if self._running is not None:
                self._running.set()
            self._changed.notify()


def run_generation(
    backend: Streams,
    request: Generate,
    cancel: threading.Event,
    send: Callable[[object], object],
    find_copies: Callable[[str, list[str]], dict[int, Copy]] | None = None,
) -> None:
    """Stream one request's alternatives to `send`, in batches; at the end, what `find_copies`
    (the copy guard) finds of the training texts in them."""
    settings = request.settings
    started = last_sent = time.perf_counter()
    ttft, pending, costs = None, [], {}
    first = True  # the first text shows at once (one frame more: ~2% of a short request); later in batches
    run = backend.stream(request.prompt, settings, cancel=cancel)
    alternatives = run.alternatives
    for deltas in run:
        now = time.perf_counter()
        ttft = ttft if ttft is not None else now - started
        pending.extend(deltas)
        for delta in deltas:
            if delta.finish_reason is not None:
                costs[delta.index] = (len(alternatives[delta.index].tokens), (now - started) * 1000)
        if (first and pending) or now - last_sent >= BATCH_S:
            send(Progress(request.request_id, pending, costs))
            pending, costs, last_sent, first = [], {}, now, False
    total = time.perf_counter() - started
    tokens = [len(a.tokens) for a in alternatives]
    copied = find_copies(request.prompt, [a.text for a in alternatives]) if find_copies else {}
    send(
        Progress(
            request.request_id,
            pending,
            costs,
            done=True,
            tokens=tokens,
            ttft_s=ttft,
            tokens_per_s=sum(tokens) / total if total else None,
            copied=copied,
        )
    )
