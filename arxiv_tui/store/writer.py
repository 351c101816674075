"""The app's writes to the history: one thread does them all, in order, off the event loop.

Each write returns a `Future`. An argument may itself be the Future of an earlier write (a
request's id, before it is known): writes run in order, so it has its value by then. A write
the disk refuses (full, read-only, locked, an I/O error) stays first in line and is tried again
with a growing pause, so nothing behind it is lost or reordered; `on_trouble` hears when writes
start failing and when they succeed again. Saves of the same draft that wait in line are merged
into the newest one. The writer also remembers, for each draft this instance edits, the revision
its text is based on, which each save carries (see `History.save_draft`).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from arxiv_tui.store.history import History
from arxiv_tui.store.records import Draft, Saved

RETRY_PAUSES_S = (0.2, 0.5, 1.0, 2.0, 5.0)  # then every 5 s
READ_WAIT_S = 1.0
# SQLite's primary error codes that say the disk, not the query, is at fault: worth a retry.
_DISK_ERRORS = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL,
}


def is_disk_trouble(exc: BaseException) -> bool:
    """Whether a write failed for the disk's sake (full, read-only, locked, I/O), not its own."""
    if isinstance(exc, sqlite3.Error):
        return (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF in _DISK_ERRORS
    return isinstance(exc, OSError)


def _value(argument: Any) -> Any:
    return argument.result() if isinstance(argument, Future) else argument


@dataclass
class _Write:
    run: Callable[..., Any]
    args: list[Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    future: Future[Any] = field(default_factory=Future)
    draft_saved: int | None = None  # the draft a save writes: a newer save replaces this one's text


class HistoryWriter:
    """Writes to `history` on a thread of their own; safe to call from any thread."""

    def __init__(
        self,
        history: History,
        on_trouble: Callable[[Exception | None], None] = lambda _: None,
        on_failed: Callable[[Exception], object] = lambda _: None,
    ) -> None:
        self.history = history
        # Both called on the writer's thread: on_trouble(error) when the disk starts refusing
        # writes, on_trouble(None) when it takes them again; on_failed(error) for a write dropped.
        self.on_trouble = on_trouble
        self.on_failed = on_failed
        self.trouble: Exception | None = None  # the error of the write that keeps failing
        self._queue: deque[_Write] = deque()
        self._busy = False
        self._closing = False
        self._changed = threading.Condition()
        self._bases: dict[int, int] = {}  # draft id -> the revision our next save is based on
        self._thread = threading.Thread(target=self._run, name="history-writer", daemon=True)
        self._thread.start()

    # Writes -------------------------------------------------------------------------------------
    def submit(self, run: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        """`run(*args, **kwargs)` on the writer's thread, after every write submitted before it."""
        return self._put(_Write(run, list(args), kwargs))

    def open_draft(self) -> Future[Draft]:
        """The draft this instance edits at start (see `History.open_draft`)."""
        return self.submit(lambda: self._based(self.history.open_draft()))

    def claim_draft(self, draft: int) -> Future[Draft | None]:
        """Draft `draft` to edit, or None when another running instance edits it."""
        return self.submit(lambda: self._based(self.history.draft(draft)) if self.history.claim_draft(draft) else None)

    def new_draft(self, text: str = "", file: str | None = None) -> Future[int]:
        return self.submit(self._new_draft, text, file)

    def _new_draft(self, text: str, file: str | None) -> int:
        draft = self.history.new_draft(text, file=file)
        self._bases[draft] = 0  # a new draft's first save is based on revision 0
        return draft

    def release_draft(self, draft: int) -> Future[None]:
        return self.submit(self.history.release_draft, draft)

    def save_draft(self, draft: int, text: str) -> Future[Saved]:
        """Save the draft's text, based on the revision this instance last saved or opened."""
        with self._changed:
            for n, waiting in enumerate(self._queue):
                if waiting.draft_saved == draft and not (n == 0 and self._busy):  # not the one being written
                    waiting.args = [text]
                    return waiting.future
        return self._put(_Write(lambda text: self._save(draft, text), [text], draft_saved=draft))

    def _based(self, draft: Draft | None) -> Draft | None:
        if draft is not None:
            self._bases[draft.id] = draft.revision
        return draft

    def _save(self, draft: int, text: str) -> Saved:
        saved = self.history.save_draft(draft, text, self._bases[draft])
        if not saved.conflict:  # after a conflict every save stays apart: never over the newer text
            self._bases[draft] = saved.revision
        return saved

    # Waiting ------------------------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every write submitted so far is done; False if `timeout` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while self._queue or self._busy:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Finish the writes waiting (for at most `timeout` s if the disk refuses them) and stop.
        Returns whether all were written; the history itself stays open."""
        written = self.flush(timeout)
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join(timeout=1.0)
        return written

    def read(self, run: Callable[..., Any], *args: Any) -> Any:
        """`run(*args)` here, once the writes submitted so far are done, so it sees them (after at
        most `READ_WAIT_S` if the disk refuses them: then it sees what was saved). Blocks: call
        it from a worker thread."""
        self.flush(READ_WAIT_S)
        return run(*args)

    # The thread ---------------------------------------------------------------------------------
    def _put(self, write: _Write) -> Future[Any]:
        with self._changed:
            if self._closing:  # a timer that fires while the app shuts down: `close` saved the text
                write.future.set_exception(RuntimeError("the history writer is closed"))
                return write.future
            self._queue.append(write)
            self._changed.notify_all()
        return write.future

    def _run(self) -> None:
        failures = 0
        while True:
            with self._changed:
                while not self._queue and not self._closing:
                    self._changed.wait()
                if not self._queue:
                    return
                write = self._queue[0]
                self._busy = True
                args, kwargs = list(write.args), dict(write.kwargs)
            try:
                result = write.run(*[_value(a) for a in args], **{k: _value(v) for k, v in kwargs.items()})
            except Exception as exc:  # noqa: BLE001 - reported or retried below, never lost silently
                if not is_disk_trouble(exc):  # a bug, or an earlier write it needs failed: not retried
                    write.future.set_exception(exc)
                    self._done()
                    self.on_failed(exc)
                    continue
                failures += 1
                if failures == 1:
                    self.trouble = exc
                    self.on_trouble(exc)
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()
                    if self._closing:
                        return
                    self._changed.wait(RETRY_PAUSES_S[min(failures, len(RETRY_PAUSES_S)) - 1])
                continue
            write.future.set_result(result)
            self._done()
            if failures:
                failures = 0
                self.trouble = None
                self.on_trouble(None)

    def _done(self) -> None:
        with self._changed:
            self._queue.popleft()
            self._busy = False
            self._changed.notify_all()
