"""The app's side of the history, without any UI: which draft this window edits, and every
write about it (saves, requests, alternatives, choices), done off the event loop.

Writes go through one `HistoryWriter`; reads run in a worker thread once the writes before them
are done. When the data directory cannot be used (read-only, full, a file in the way), the
history lives in memory instead and `problem` says why: the app keeps working and the writer can
save the draft as a file. When the disk starts refusing writes mid-session, the writes wait in
memory and are tried again. At the end (`close`) whatever could not be written is rescued to a
file. What happens is told through `on_event` (called from any thread) as the events below.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arxiv_tui.store import files as draft_files
from arxiv_tui.store.history import History, unusable_reason
from arxiv_tui.store.records import Draft, Saved
from arxiv_tui.store.writer import HistoryWriter

CLOSE_WAIT_S = 3.0  # how long quitting waits for a disk that refuses writes


@dataclass(frozen=True)
class WritesFailing:
    error: Exception


@dataclass(frozen=True)
class WritesResumed:
    pass


@dataclass(frozen=True)
class WriteFailed:
    error: Exception


@dataclass(frozen=True)
class HistoryDamaged:
    """The history file's integrity check found damage (`detail`): what can be read still is."""

    detail: str


@dataclass(frozen=True)
class DraftConflict:
    """This window's save of `draft_id` was based on a revision another writer had replaced:
    the save was kept as a recovered revision (see `History.save_draft`)."""

    draft_id: int


def open_history(history: History | None = None) -> tuple[History, str | None]:
    """The history file, or one in memory and the reason the file could not be used."""
    if history is not None:
        return history, None
    try:
        return History(), None
    except (OSError, sqlite3.Error) as exc:
        return History.in_memory(), unusable_reason(exc)


class DraftKeeper:
    def __init__(self, history: History | None, on_event: Callable[[object], object]) -> None:
        self.history, self.problem = open_history(history)
        self.on_event = on_event
        self.writer = HistoryWriter(
            self.history, on_trouble=self._trouble, on_failed=lambda error: on_event(WriteFailed(error))
        )
        self.draft_id: int | None = None
        self.saved_elsewhere: str | None = None  # the text last saved to a file (Ctrl+S)

    def check_file(self) -> None:
        """Look for damage in the history file, on the writer's thread (it reads the whole file:
        call it once the first screen shows); found damage is told as `HistoryDamaged`."""
        self.writer.submit(self._check)

    def _check(self) -> None:
        if self.history.path is not None and (detail := self.history.damage()) is not None:
            self.on_event(HistoryDamaged(detail))

    @property
    def failing(self) -> bool:
        """The disk refuses writes now (they wait in memory)."""
        return self.writer.trouble is not None

    def _trouble(self, error: Exception | None) -> None:
        self.on_event(WritesResumed() if error is None else WritesFailing(error))

    async def read(self, run: Callable[..., Any], *args: Any) -> Any:
        """`run(*args)` (a History method) in a worker thread, after the writes before it."""
        return await asyncio.to_thread(self.writer.read, run, *args)

    # The draft this window edits --------------------------------------------------------------
    async def open_first(self) -> Draft:
        """The draft to edit at start (the latest no other window edits, or a new one)."""
        draft = await asyncio.wrap_future(self.writer.open_draft())
        self.draft_id = draft.id
        return draft

    async def switch_to(self, draft_id: int) -> Draft | None:
        """Edit draft `draft_id` instead, unless another running window edits it (None)."""
        draft = await asyncio.wrap_future(self.writer.claim_draft(draft_id))
        if draft is not None:
            self._leave()
            self.draft_id = draft.id
        return draft

    async def start_new(self, text: str = "", file: str | None = None) -> int:
        """Edit a new draft holding `text` (from the paper `file`, if given)."""
        draft_id = await asyncio.wrap_future(self.writer.new_draft(text, file))
        self._leave()
        self.draft_id = draft_id
        return draft_id

    def keep_as_new(self, text: str) -> Future[int]:
        """Keep `text` as a draft of its own, without editing it."""
        return self.writer.submit(self.history.new_draft, text, lease=False)

    def _leave(self) -> None:
        if self.draft_id is not None:
            self.writer.release_draft(self.draft_id)

    def save(self, text: str) -> None:
        """Save the draft's text (merged with a save still waiting); a conflict is told as an event."""
        if self.draft_id is None:
            return
        draft_id = self.draft_id
        self.writer.save_draft(draft_id, text).add_done_callback(lambda done: self._saved(draft_id, done))

    def _saved(self, draft_id: int, done: Future[Saved]) -> None:
        if not done.cancelled() and done.exception() is None and done.result().conflict:
            self.on_event(DraftConflict(draft_id))

    # Requests and choices (ids come back as Futures, usable as arguments of later writes) -------
    def add_request(self, *args: Any, **kwargs: Any) -> Future[int]:
        return self.writer.submit(self.history.add_request, self.draft_id, *args, **kwargs)

    def save_alternatives(self, request: int | Future[int], alternatives: list[tuple[str, int, str | None]]) -> None:
        self.writer.submit(self.history.save_alternatives, request, alternatives)

    def add_choice(self, request: int | Future[int], idx: int, accepted: str, kind: str) -> Future[int]:
        return self.writer.submit(self.history.add_choice, request, idx, accepted, kind)

    # The end ------------------------------------------------------------------------------------
    def save_as(self, path: Path, text: str) -> Path:
        """Write the draft to a file of the user's choosing (raises OSError with the reason)."""
        saved = draft_files.write_text(path, text)
        self.saved_elsewhere = text
        return saved

    def close(self, text: str) -> Path | None:
        """Save `text`, finish the writes (waiting a little for a refusing disk) and close. If the
        text did not reach the history file (or there is none) and no file holds it either, it is
        rescued to a file: returns where."""
        self.save(text)
        self._leave()
        written = self.writer.close(CLOSE_WAIT_S)
        self.history.close()
        kept = written and self.problem is None
        if kept or not text.strip() or text == self.saved_elsewhere:
            return None
        return draft_files.rescue(text)
