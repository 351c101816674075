"""The history's SQLite file: opened with WAL, a busy timeout and `synchronous=NORMAL`, its schema
migrated (`schema`); a file SQLite cannot read is moved aside (kept, never deleted) and a fresh one
started, which `notice` then says. Transactions and reads share one connection under one lock.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from arxiv_tui.store.schema import migrate, use_wal

BUSY_TIMEOUT_S = 5.0


class Database:
    """One SQLite file (or memory), its schema current; safe to use from several threads (one
    connection, one lock)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path  # None: in memory
        self.notice: str | None = None  # set when a corrupt file was moved aside
        self._lock = threading.RLock()
        if self.path is None:
            self._db = self._open(":memory:")
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open(self.path)
        except sqlite3.OperationalError:
            raise  # cannot be opened or written (permissions, a full disk): not corruption
        except sqlite3.DatabaseError as exc:
            kept = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            self.path.replace(kept)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self.notice = f"the history database could not be read ({exc}); it was kept as {kept} and a new one started"
            self._db = self._open(self.path)

    def damage(self) -> str | None:
        """What `PRAGMA quick_check` finds wrong with the file, or None. It reads the whole file
        (~75 ms per 100 MB here), so the app runs it on the writer's thread, not at start."""
        found = [line for (row,) in self._read("PRAGMA quick_check(3)") for line in row.splitlines()]
        return None if found == ["ok"] else "; ".join(line for line in found if not line.startswith("***"))

    @staticmethod
    def _open(path: Path | str) -> sqlite3.Connection:
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            use_wal(db, BUSY_TIMEOUT_S)
            db.execute("PRAGMA synchronous = NORMAL")  # WAL: a power cut may lose the last save, never corrupt
            migrate(db)
        except sqlite3.Error:
            db.close()
            raise
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Make every write inside one transaction: bulk loads without a disk sync per row."""
        with self._transaction():
            yield

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db.in_transaction:  # inside `batch`
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _read(self, sql: str, args: tuple[object, ...] | dict[str, object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()
