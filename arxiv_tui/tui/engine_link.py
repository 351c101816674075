"""The drafting screen's hold on the engine's process: started with the draft to prefill,
ready once it has loaded, restarted after a crash (not after one while loading, which would
only happen again), stopped for good at the end. No UI: the screen shows what it says."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from arxiv_tui.runtime.protocol import Backend
    from arxiv_tui.tui.config import Config


class EngineEvent(Message):
    """An event of the engine's process (see `arxiv_tui.runtime.engine_client`), on the UI's queue."""

    def __init__(self, event: object) -> None:
        super().__init__()
        self.event = event


class EngineLink:
    def __init__(self, on_event: Callable[[object], object]) -> None:
        self.on_event = on_event  # called on a reader thread: post it to the UI's queue
        self.ready: Backend | None = None  # the process (or server), once its model has loaded
        self._process: Backend | None = None  # loading, or loaded
        self._generation = 0  # which process is current: events of a stopped one are dropped
        self.fetching = False  # the current process is downloading the model (it said so)

    def start(self, config: Config, draft: str, max_alternatives: int) -> None:
        """Start the process (~1-8 ms here: the loading happens over there), which prefills the
        prompt cache with `draft` while it loads; or, with `api_base`, connect to that server."""
        self._generation += 1
        self.fetching = False
        generation = self._generation

        def on_event(event: object) -> None:
            if generation == self._generation:
                self.on_event(event)

        if config.api_base:
            from arxiv_tui.runtime.remote.client import RemoteClient

            api_model = config.api_model or None
            self._process = RemoteClient(config.api_base, api_model, config.api_key_env, config.template, on_event)
            return
        from arxiv_tui.runtime.engine_client import EngineClient

        self._process = EngineClient(
            config.model,
            config.precision,
            config.template or None,
            min(config.n, max_alternatives),
            on_event=on_event,
            draft=draft,
            max_new_tokens=config.max_new_tokens,
            runtime=config.runtime,
        )

    @property
    def starting(self) -> bool:
        """A process is loading (or fetching) the model."""
        return self._process is not None and self.ready is None

    def loaded(self) -> None:
        self.ready = self._process
        self.fetching = False

    def stopped(self) -> bool:
        """The process ended (it died, or could not load its model): whether it had loaded (then
        it is worth starting again)."""
        was_ready = self.ready is not None
        self.ready = self._process = None
        self.fetching = False
        return was_ready

    def stop(self, wait_s: float = 1.0) -> None:
        """End the process, letting it finish its step for up to `wait_s` (0: kill it now)."""
        self._generation += 1
        self.ready = None
        self.fetching = False
        if self._process is not None:
            self._process.close(wait_s)
            self._process = None
