"""The engine in a child process, as the app sees it: requests go in over one pipe, events come out
over another.

Textual's Python and the engine's would share one GIL in one process: every frame the UI draws
would hold up the engine's Python between torch operations (the app ran at a quarter of the
engine's speed that way). In its own process the engine keeps its full speed and the UI its
responsiveness. The child (`arxiv_tui.runtime.engine_child`) holds the model, the prompt cache and the
confidence scorer; this side imports neither torch nor transformers.

Every event reaches `on_event` on a reader thread: the app turns each into a Textual message.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from arxiv_tui.runtime.confidence import DraftScores
from arxiv_tui.runtime.fetch import FetchProgress
from arxiv_tui.runtime.settings import Copy, Delta, GenerationSettings

# Requests, app -> engine ---------------------------------------------------------------------


@dataclass(frozen=True)
class Open:
    """The first request: which model to load, the request shape to warm up for, and the draft
    to prefill while loading, so the first request reuses its cache as later ones do."""

    model: str
    precision: str
    template: str
    warm_n: int
    draft: str = ""
    max_new_tokens: int = 40


@dataclass(frozen=True)
class Generate:
    """Stream N alternatives for `prompt`; stops whatever runs or waits before it."""

    request_id: int
    prompt: str
    settings: GenerationSettings


@dataclass(frozen=True)
class Cancel:
    """Stop every generation sent before this, at its next step."""


@dataclass(frozen=True)
class Score:
    """The confidence view's per-token probabilities of `text`."""

    text: str


# Events, engine -> app -----------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    precision: str
    context_length: int
    token_table: list[bytes]  # raw bytes of each token id, to show the model's replacements


@dataclass(frozen=True)
class LoadFailed:
    error: str


@dataclass(frozen=True)
class Fetching:
    """The model is being downloaded: where it stands (sent a few times a second)."""

    progress: FetchProgress


@dataclass(frozen=True)
class Progress:
    """Deltas of request `request_id` since the last event, with (tokens, ms) of the alternatives that
    finished; `done` on the last one, with the request's figures."""

    request_id: int
    deltas: list[Delta]
    costs: dict[int, tuple[int, float]] = field(default_factory=dict)
    done: bool = False
    tokens: list[int] | None = None
    ttft_s: float | None = None
    tokens_per_s: float | None = None
    copied: dict[int, Copy] = field(default_factory=dict)  # on `done`: training text a card repeats


@dataclass(frozen=True)
class Scored:
    scores: DraftScores
    seconds: float
    copied: list[Copy] = field(default_factory=list)  # spans of the draft found in the training texts


@dataclass(frozen=True)
class RequestFailed:
    """A request raised in the engine; the engine goes on with the next one."""

    error: str


@dataclass(frozen=True)
class EngineStopped:
    """The engine's process ended without being asked to (killed, out of memory, crashed)."""

    exit_code: int | None


class EngineProcess:
    """Starts the engine's process for a model and talks to it; `close()` ends it."""

    def __init__(self, model: str, precision: str, template: str, warm_n: int,
                 on_event: Callable[[object], None], draft: str = "", max_new_tokens: int = 40) -> None:
        # A plain child process speaking pickled messages over its stdin and stdout: its stderr
        # goes nowhere, since the app's terminal is the app's alone.
        self._process = subprocess.Popen(
            [sys.executable, "-m", "arxiv_tui.runtime.engine_child"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        self._requests = Connection(os.dup(self._process.stdin.fileno()), readable=False)
        self._events = Connection(os.dup(self._process.stdout.fileno()), writable=False)
        self._process.stdin.close()
        self._process.stdout.close()
        self._on_event = on_event
        self._closing = False
        self.token_table: list[bytes] = []  # from Loaded: the confidence view names replacements with it
        self._send(Open(model, precision, template, warm_n, draft, max_new_tokens))
        self._reader = threading.Thread(target=self._receive, name="engine-events", daemon=True)
        self._reader.start()

    def _receive(self) -> None:
        while True:
            try:
                event = self._events.recv()
            except (EOFError, OSError):
                self._events.close()
                if not self._closing:
                    self._on_event(EngineStopped(self._process.wait()))
                return
            if isinstance(event, Loaded):
                self.token_table = event.token_table
            elif isinstance(event, LoadFailed):
                self._closing = True  # the process ends now, as it should
            self._on_event(event)

    def _send(self, request: object) -> None:
        try:
            self._requests.send(request)
        except (OSError, ValueError):  # the process is gone: the reader reports it
            pass

    def generate(self, request_id: int, prompt: str, settings: GenerationSettings) -> None:
        self._send(Generate(request_id, prompt, settings))

    def cancel(self) -> None:
        self._send(Cancel())

    def score(self, text: str) -> None:
        self._send(Score(text))

    def close(self, timeout: float = 1.0) -> None:
        """End the process: it stops at its next step once its requests pipe closes."""
        self._closing = True
        self._requests.close()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:  # still loading, or in a long step
            self._process.kill()
            self._process.wait()
