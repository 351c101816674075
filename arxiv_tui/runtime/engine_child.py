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
import functools
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from arxiv_tui.runtime.copyguard.index import (
    CopyIndex,
    check_continuations,
    index_directories,
)
from arxiv_tui.runtime.protocol import (
    Fetching,
    Generate,
    Loaded,
    LoadFailed,
    Open,
    RequestFailed,
    Score,
    Scored,
)
from arxiv_tui.runtime.settings import GenerationSettings
from arxiv_tui.runtime.streaming import Inbox, run_generation

if TYPE_CHECKING:  # torch is imported once a model is asked for
    from arxiv_tui.runtime.engine import Engine

WARM_UP_PROMPT = "We study how graph neural networks generalise to larger graphs. " * 24  # ~300 tokens


def receive(requests: Connection, inbox: Inbox) -> None:
    """Read requests until the app closes its end of the pipe."""
    while True:
        try:
            inbox.put(requests.recv())
        except (EOFError, OSError):
            inbox.close()
            return


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
            runtime=opening.runtime,
        )
        warm_up(engine, opening.warm_n)
        if opening.draft:
            engine.prefill(opening.draft, opening.max_new_tokens)
    except (ReportedError, ValueError, OSError) as exc:
        events.send(LoadFailed(str(exc)))
        return
    guard = CopyIndex.find(*index_directories(opening.model, engine.loaded.directory))
    find_copies = functools.partial(check_continuations, guard) if guard else None
    loaded = engine.loaded
    table = list(engine.token_table)
    events.send(Loaded(loaded.precision, engine.context_length, table, runtime=loaded.runtime, notice=loaded.notice))
    inbox = Inbox()
    threading.Thread(target=receive, args=(requests, inbox), name="requests", daemon=True).start()
    while (work := inbox.take()) is not None:
        request, cancel = work
        try:
            if isinstance(request, Generate):
                run_generation(engine, request, cancel, events.send, find_copies)
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
