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

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection

from arxiv_tui.runtime.protocol import Cancel, EngineStopped, Generate, Loaded, LoadFailed, Open, Score
from arxiv_tui.runtime.settings import GENERATION_DEFAULTS, GenerationSettings


class EngineClient:
    """Starts the engine's process for a model and talks to it; `close()` ends it."""

    def __init__(
        self,
        model: str,
        precision: str,
        template: str | None,
        warm_n: int,
        on_event: Callable[[object], object],
        draft: str = "",
        max_new_tokens: int = GENERATION_DEFAULTS.max_new_tokens,
        runtime: str = "auto",
    ) -> None:
        # A plain child process speaking pickled messages over its stdin and stdout: its stderr
        # goes nowhere, since the app's terminal is the app's alone.
        self._process = subprocess.Popen(
            [sys.executable, "-m", "arxiv_tui.runtime.engine_child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self._process.stdin is not None and self._process.stdout is not None  # both are PIPEs
        self._requests = Connection(os.dup(self._process.stdin.fileno()), readable=False)
        self._events = Connection(os.dup(self._process.stdout.fileno()), writable=False)
        self._process.stdin.close()
        self._process.stdout.close()
        self._on_event = on_event
        self._closing = False
        self.token_table: list[bytes] = []  # from Loaded: the confidence view names replacements with it
        self._send(Open(model, precision, template, warm_n, draft, max_new_tokens, runtime))
        self._reader = threading.Thread(target=self._receive, name="engine-events", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def exit_code(self) -> int | None:
        """The process's exit status once it has ended; None while it runs."""
        return self._process.poll()

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
        with contextlib.suppress(OSError, ValueError):  # the process is gone: the reader reports it
            self._requests.send(request)

    def generate(self, request_id: int, prompt: str, settings: GenerationSettings) -> None:
        self._send(Generate(request_id, prompt, settings))

    def cancel(self) -> None:
        self._send(Cancel())

    def score(self, text: str) -> None:
        self._send(Score(text))

    def close(self, timeout: float = 1.0) -> None:
        """End the process: it stops at its next step once its requests pipe closes. Returns once
        it has ended and its last event has been passed on."""
        self._closing = True
        self._requests.close()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:  # still loading, or in a long step
            self._process.kill()
            self._process.wait()
        if threading.current_thread() is not self._reader:
            self._reader.join(timeout)
