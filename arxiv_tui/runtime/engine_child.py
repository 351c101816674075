"""The engine's side of the app's child process (see `arxiv_tui.runtime.engine_client`).

The main thread loads the model, warms it up, and then runs one piece of work at a time; a
receiver thread reads requests as they come, so a new request or a cancel stops the running
generation at its next step even while the main thread is busy with it. The first token goes
back at once; then deltas go in batches every `BATCH_S`, so the UI redraws at most 10 times a
second however fast tokens come.
Run as `python -m arxiv_tui.runtime.engine_child`; torch is imported only inside `serve`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from arxiv_tui.runtime.copyguard.index import (
    CopyIndex,
    check_continuations,
    index_directories,
)
from arxiv_tui.runtime.protocol import (
    Cancel,
    Fetching,
    Generate,
    Loaded,
    LoadFailed,
    Open,
    Progress,
    RequestFailed,
    Score,
    Scored,
)
from arxiv_tui.runtime.settings import GenerationSettings

if TYPE_CHECKING:  # torch is imported once a model is asked for
    from arxiv_tui.runtime.engine import Engine

# How often streamed deltas go to the UI. Each frame the UI draws takes CPU from the engine's two
# threads, and a thread held up holds up both (they meet at the end of every op): on 2 cores, 10
# frames a second instead of 20 made a 3 x 60-token request 1.14-1.16x headless, from 1.21-1.24x.
BATCH_S = 0.1
WARM_UP_PROMPT = "We study how graph neural networks generalise to larger graphs. " * 24  # ~300 tokens


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


def receive(requests: Connection, inbox: Inbox) -> None:
    """Read requests until the app closes its end of the pipe."""
    while True:
        try:
            inbox.put(requests.recv())
        except (EOFError, OSError):
            inbox.close()
            return


def run_generation(
    engine: Engine,
    request: Generate,
    cancel: threading.Event,
    send: Callable[[object], None],
    guard: CopyIndex | None = None,
) -> None:
    """Stream one request's alternatives to `send`, in batches; at the end, what `guard` (a
    `CopyIndex`) finds of the training texts in them."""
    settings = request.settings
    started = last_sent = time.perf_counter()
    ttft, pending, costs = None, [], {}
    first = True  # the first text shows at once (one frame more: ~2% of a short request); later in batches
    run = engine.stream(request.prompt, settings, cancel=cancel)
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
    copied = check_continuations(guard, request.prompt, [a.text for a in alternatives])
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


def warm_up(engine: Engine, n: int) -> None:
    """Run the shapes a first request meets (a long prefill, n rows, rows leaving the batch) once,
    so the first real request is as fast as later ones; then forget it."""
    for text in (WARM_UP_PROMPT, WARM_UP_PROMPT[:80]):
        for rows in range(n, 0, -1):
            engine.generate(text, GenerationSettings(n=rows, max_new_tokens=4, seed=0, ignore_eos=True))
    engine.forget_prompt()
    engine.score(WARM_UP_PROMPT[:200])
    engine.forget_scores()
    engine.forget_prompt()
    _return_freed_memory()


def _return_freed_memory() -> None:
    """Give the heap that loading freed (checkpoint chunks, fp32 copies) back to the system:
    ~20 MB of resident memory on the distilgpt2 shape. glibc only; elsewhere nothing to do."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _claim_stdio() -> tuple[Connection, Connection]:
    """The pipes to the app, on stdin and stdout; then nothing this process prints (libraries'
    warnings) can reach them, and Ctrl+C sent to the terminal's process group is the app's."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests = Connection(os.dup(0), writable=False)
    events = Connection(os.dup(1), readable=False)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    os.close(devnull)
    return requests, events


def serve(requests: Connection, events: Connection) -> None:
    """Load the model the first request names, warm up, then serve until the app goes away."""
    from arxiv_tui.errors import ReportedError
    from arxiv_tui.runtime.engine import Engine

    try:
        opening: Open = requests.recv()
    except (EOFError, OSError):
        return
    try:
        engine = Engine.open(
            opening.model,
            opening.precision,
            opening.template,
            on_progress=lambda progress: events.send(Fetching(progress)),
        )
        warm_up(engine, opening.warm_n)
        if opening.draft:
            engine.prefill(opening.draft, opening.max_new_tokens)
    except (ReportedError, ValueError, OSError) as exc:
        events.send(LoadFailed(str(exc)))
        return
    guard = CopyIndex.find(*index_directories(opening.model, engine.loaded.directory))
    events.send(Loaded(engine.loaded.precision, engine.context_length, list(engine.token_table)))
    inbox = Inbox()
    threading.Thread(target=receive, args=(requests, inbox), name="requests", daemon=True).start()
    while (work := inbox.take()) is not None:
        request, cancel = work
        try:
            if isinstance(request, Generate):
                run_generation(engine, request, cancel, events.send, guard)
            elif isinstance(request, Score):
                started = time.perf_counter()
                scores = engine.score(request.text)
                copied = guard.copies(request.text) if guard else []
                events.send(Scored(scores, time.perf_counter() - started, copied))
        except (BrokenPipeError, EOFError):
            return  # the app has gone
        except Exception as exc:  # noqa: BLE001 - reported to the app, which shows it; the engine goes on
            events.send(RequestFailed(f"{type(exc).__name__}: {exc}"))


if __name__ == "__main__":
    serve(*_claim_stdio())
