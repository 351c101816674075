"""A completion server as the app sees it: the same calls and events as the engine's process
(`arxiv_tui.runtime.engine_client`), so the drafting screen does not know which one answers.

Network waits release the GIL, so a thread does here what a child process does for the local
model: it connects (and says Loaded, or LoadFailed in one line), then takes one request at a
time from an `Inbox`, where a newer request or a cancel stops the running one by closing its
connections. Events reach `on_event` on that thread, as the engine client's do on its reader.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from arxiv_tui.errors import ReportedError
from arxiv_tui.runtime.continuation import StreamingRun
from arxiv_tui.runtime.prompts import with_template
from arxiv_tui.runtime.protocol import Cancel, Generate, Loaded, LoadFailed, RequestFailed, Score, Scored
from arxiv_tui.runtime.remote.errors import RemoteError
from arxiv_tui.runtime.remote.run import CompletionServer, RemoteRun
from arxiv_tui.runtime.settings import GenerationSettings
from arxiv_tui.runtime.streaming import Inbox, run_generation

NO_SCORES = "the confidence view needs a local model, or a server that returns the prompt's log-probabilities"


class _Adapter:
    """A server with the engine's `stream`: the template in front, then a RemoteRun."""

    def __init__(self, server: CompletionServer, template: str) -> None:
        self.server, self.template = server, template

    def stream(self, text: str, settings: GenerationSettings, *, cancel: threading.Event) -> StreamingRun:
        return RemoteRun(self.server, with_template(text, self.template, raw=False), settings, cancel)


class RemoteClient:
    """Connects to `api_base` and serves the app's requests from it; `close()` ends it."""

    def __init__(
        self,
        api_base: str,
        api_model: str | None,
        key_env: str | None,
        template: str,
        on_event: Callable[[object], object],
    ) -> None:
        self.token_table: list[bytes] = []  # the texts of the tokens a server's scores named, by id
        self._ids: dict[str, int] = {}
        self._on_event = on_event
        self._inbox = Inbox()
        self._thread = threading.Thread(
            target=self._serve, args=(api_base, api_model, key_env, template), name="remote", daemon=True
        )
        self._thread.start()

    def _serve(self, api_base: str, api_model: str | None, key_env: str | None, template: str) -> None:
        from arxiv_tui.runtime.remote.servers import open_server

        try:
            server = open_server(api_base, api_model, key_env)
        except ReportedError as exc:
            self._on_event(LoadFailed(str(exc)))
            return
        self._on_event(Loaded("remote", 0, [], served=f"{server.model} @ {server.name}"))
        adapter = _Adapter(server, template)
        while (work := self._inbox.take()) is not None:
            request, cancel = work
            try:
                if isinstance(request, Generate):
                    run_generation(adapter, request, cancel, self._on_event)
                elif isinstance(request, Score):
                    self._score(server, request.text, template)
            except ReportedError as exc:
                self._on_event(RequestFailed(str(exc)))

    def _score(self, server: CompletionServer, text: str, template: str) -> None:
        """The confidence view's scores, where the server gives the prompt's log-probabilities."""
        started = time.perf_counter()
        try:
            scores = server.score(text, template, self._intern)
        except RemoteError as exc:
            refused = exc.exit_code == 2  # the server does not do echo with logprobs
            self._on_event(RequestFailed(NO_SCORES if refused else str(exc)))
            return
        self._on_event(Scored(scores, time.perf_counter() - started))

    def _intern(self, token: str) -> int:
        """An id in `token_table` for a token's text (the confidence view names replacements by id)."""
        if token not in self._ids:
            self._ids[token] = len(self.token_table)
            self.token_table.append(token.encode("utf-8"))
        return self._ids[token]

    def generate(self, request_id: int, prompt: str, settings: GenerationSettings) -> None:
        self._inbox.put(Generate(request_id, prompt, settings))

    def cancel(self) -> None:
        self._inbox.put(Cancel())

    def score(self, text: str) -> None:
        self._inbox.put(Score(text))

    def close(self, timeout: float = 1.0) -> None:
        """Stop what runs (its connections close) and end the thread."""
        self._inbox.close()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
