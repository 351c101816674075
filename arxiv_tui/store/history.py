"""Drafts, generation requests, their alternatives and the user's choices, in SQLite.

The database lives in the user data directory; `History.in_memory()` is the same store kept
only in memory, for when that directory cannot be written. WAL and a busy timeout let several
running instances share one file, and three rules keep each one's text safe from the others:
- a draft is edited by one instance at a time: `open_draft` and `claim_draft` take a lease
  (`draft_leases`) that `close` gives back, and a lease whose process has gone is taken over;
- each save names the revision it was based on: a save based on an older one is kept as a
  recovered revision, never written over the newer text;
- past texts of a draft are kept as revisions (one a minute at most, the newest 50).
Every query finds its rows through an index, so writes cost the same in a history of years.
A file SQLite cannot read is moved aside (kept, never deleted) and a fresh one started;
`History.notice` then says so (`database`). The schema and its migrations are in `schema`.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from arxiv_tui.paths import data_dir
from arxiv_tui.store.database import Database
from arxiv_tui.store.instance import Instance, is_running
from arxiv_tui.store.records import (
    Branch,
    Choice,
    Draft,
    Hit,
    Node,
    Request,
    Revision,
    Saved,
    StoredAlternative,
)

KEEP_REVISIONS = 50  # past texts kept per draft (recovered ones are always kept)
REVISION_EVERY_S = 60.0  # at most one past text a minute: autosave runs after every pause


_DRAFT_COLUMNS = (
    "id, updated_at, text, revision, "
    "(SELECT count(*) FROM draft_revisions r WHERE r.draft_id = drafts.id AND r.recovered = 1), file"
)
_REVISION_COLUMNS = "id, draft_id, revision, saved_at, text, recovered"
_REQUEST_COLUMNS = "id, draft_id, created_at, model, prompt, settings, draft_text, cursor, parent_choice_id"


class History(Database):
    """The history: drafts, requests, alternatives and choices (see the module docstring)."""

    def __init__(self, path: Path | None = None, *, instance: Instance | None = None, _memory: bool = False) -> None:
        super().__init__(None if _memory else path or data_dir() / "history.db")
        self.instance = instance or Instance()

    @classmethod
    def in_memory(cls, instance: Instance | None = None) -> History:
        """A history that lives as long as this object: nothing reaches the disk."""
        return cls(instance=instance, _memory=True)

    def close(self) -> None:
        """Give back this instance's leases (if the disk lets us) and close the file."""
        with self._lock:
            with contextlib.suppress(sqlite3.Error):  # a lease left behind is taken over once its process has gone
                self._db.execute("DELETE FROM draft_leases WHERE instance = ?", (self.instance.token,))
            super().close()

    # Drafts and who edits them -----------------------------------------------------------------
    def new_draft(self, text: str = "", lease: bool = True, file: str | None = None) -> int:
        """A new draft, leased to this instance (unless `lease` is False: kept, not edited); `file`
        is the paper its text came from and is saved back to."""
        now = time.time()
        with self._transaction() as db:
            draft = _inserted(
                db.execute(
                    "INSERT INTO drafts (created_at, updated_at, text, file) VALUES (?, ?, ?, ?)",
                    (now, now, text, file),
                )
            )
            if lease:
                self._take_lease(db, draft)
        return draft

    def open_draft(self) -> Draft:
        """The draft to edit at start: the most recent one no running instance edits (leased to
        this one), or a new one."""
        with self._transaction() as db:
            for draft_id, *holder in db.execute(
                "SELECT draft_id, instance, host, pid, pid_started FROM draft_leases"
            ).fetchall():
                if not self._held_elsewhere(*holder):
                    db.execute("DELETE FROM draft_leases WHERE draft_id = ?", (draft_id,))
            row = db.execute(
                f"SELECT {_DRAFT_COLUMNS} FROM drafts WHERE id NOT IN "
                "(SELECT draft_id FROM draft_leases) ORDER BY updated_at DESC, id DESC LIMIT 1"
            ).fetchone()
            if row is None:
                created = self.draft(self.new_draft(""))
                assert created is not None  # written just now, in this transaction
                return created
            self._take_lease(db, row[0])
        return Draft(*row)

    def claim_draft(self, draft: int) -> bool:
        """Lease `draft` to this instance, unless another running instance edits it."""
        with self._transaction() as db:
            holder = db.execute(
                "SELECT instance, host, pid, pid_started FROM draft_leases WHERE draft_id = ?", (draft,)
            ).fetchone()
            if holder is not None and self._held_elsewhere(*holder):
                return False
            self._take_lease(db, draft)
        return True

    def release_draft(self, draft: int) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM draft_leases WHERE draft_id = ? AND instance = ?", (draft, self.instance.token))

    def _take_lease(self, db: sqlite3.Connection, draft: int) -> None:
        me = self.instance
        db.execute(
            "INSERT OR REPLACE INTO draft_leases (draft_id, instance, host, pid, pid_started, taken_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (draft, me.token, me.host, me.pid, me.pid_started, time.time()),
        )

    def _held_elsewhere(self, instance: str, host: str, pid: int, pid_started: str | None) -> bool:
        """Whether a lease belongs to another instance that still runs (one in this very process,
        a second History, runs as long as the process does)."""
        return instance != self.instance.token and is_running(host, pid, pid_started)

    def save_draft(self, draft: int, text: str, base_revision: int) -> Saved:
        """Store the draft's text, if the draft is still at `base_revision`; if it moved on since
        (another writer), the text is kept as a recovered revision and the newer one stays. An
        unchanged text costs nothing and keeps the draft's time."""
        now = time.time()
        with self._transaction() as db:
            row = db.execute("SELECT revision, text FROM drafts WHERE id = ?", (draft,)).fetchone()
            if row is None:
                raise LookupError(f"there is no draft {draft}")
            revision, stored = row
            if stored == text:
                return Saved(revision)
            if revision != base_revision:
                db.execute(
                    "INSERT INTO draft_revisions (draft_id, revision, saved_at, text, recovered) "
                    "VALUES (?, ?, ?, ?, 1)",
                    (draft, base_revision, now, text),
                )
                return Saved(revision, conflict=True)
            self._keep_past_text(db, draft, revision, stored, now)
            db.execute(
                "UPDATE drafts SET text = ?, updated_at = ?, revision = ? WHERE id = ?",
                (text, now, revision + 1, draft),
            )
        return Saved(revision + 1)

    @staticmethod
    def _keep_past_text(db: sqlite3.Connection, draft: int, revision: int, text: str, now: float) -> None:
        """Keep the text a save replaces as a revision: at most one a minute, the newest
        `KEEP_REVISIONS` of them."""
        newest = db.execute(
            "SELECT saved_at FROM draft_revisions WHERE draft_id = ? AND recovered = 0 ORDER BY id DESC LIMIT 1",
            (draft,),
        ).fetchone()
        if not text.strip() or (newest is not None and now - newest[0] < REVISION_EVERY_S):
            return
        db.execute(
            "INSERT INTO draft_revisions (draft_id, revision, saved_at, text) VALUES (?, ?, ?, ?)",
            (draft, revision, now, text),
        )
        db.execute(
            "DELETE FROM draft_revisions WHERE draft_id = ? AND recovered = 0 AND id <= "
            "(SELECT id FROM draft_revisions WHERE draft_id = ? AND recovered = 0 ORDER BY id DESC "
            "LIMIT 1 OFFSET ?)",
            (draft, draft, KEEP_REVISIONS),
        )

    def draft(self, draft: int) -> Draft | None:
        rows = self._read(f"SELECT {_DRAFT_COLUMNS} FROM drafts WHERE id = ?", (draft,))
        return Draft(*rows[0]) if rows else None

    def drafts(self, limit: int = 100) -> list[Draft]:
        rows = self._read(f"SELECT {_DRAFT_COLUMNS} FROM drafts ORDER BY updated_at DESC, id DESC LIMIT ?", (limit,))
        return [Draft(*row) for row in rows]

    def revisions(self, draft: int) -> list[Revision]:
        """The draft's past and recovered texts, newest first."""
        rows = self._read(
            f"SELECT {_REVISION_COLUMNS} FROM draft_revisions WHERE draft_id = ? ORDER BY id DESC", (draft,)
        )
        return [_revision(row) for row in rows]

    def revision(self, revision: int) -> Revision | None:
        rows = self._read(f"SELECT {_REVISION_COLUMNS} FROM draft_revisions WHERE id = ?", (revision,))
        return _revision(rows[0]) if rows else None

    # Requests, alternatives, choices -----------------------------------------------------------
    def add_request(
        self,
        draft: int | None,
        model: str,
        prompt: str,
        settings: dict[str, object],
        draft_text: str | None = None,
        cursor: int | None = None,
        parent_choice: int | None = None,
    ) -> int:
        """A new node of the draft's tree: `prompt` is the text before `cursor` in `draft_text`;
        `parent_choice` the acceptance it follows (None: a root)."""
        with self._transaction() as db:
            return _inserted(
                db.execute(
                    "INSERT INTO requests (draft_id, created_at, model, prompt, settings, draft_text, cursor, "
                    "parent_choice_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        draft,
                        time.time(),
                        model,
                        prompt,
                        json.dumps(settings, sort_keys=True),
                        prompt if draft_text is None else draft_text,
                        len(prompt) if cursor is None else cursor,
                        parent_choice,
                    ),
                )
            )

    def save_alternatives(self, request: int, alternatives: list[tuple[str, int, str | None]]) -> None:
        """Store a request's alternatives as (text, tokens, finish_reason), replacing earlier ones."""
        with self._transaction() as db:
            db.execute("DELETE FROM alternatives WHERE request_id = ?", (request,))
            db.executemany(
                "INSERT INTO alternatives (request_id, idx, text, tokens, finish_reason) VALUES (?, ?, ?, ?, ?)",
                [(request, idx, *alternative) for idx, alternative in enumerate(alternatives)],
            )

    def add_choice(self, request: int, idx: int, accepted: str, kind: str) -> int:
        """Record that (part of) alternative `idx` was accepted; kind: whole, word or sentence."""
        with self._transaction() as db:
            return _inserted(
                db.execute(
                    "INSERT INTO choices (request_id, idx, accepted, kind, created_at) VALUES (?, ?, ?, ?, ?)",
                    (request, idx, accepted, kind, time.time()),
                )
            )

    def requests(self, draft: int | None = None, limit: int = 100) -> list[Request]:
        """Requests, newest first, with their alternatives and choices (of one draft, or all)."""
        where, args = ("WHERE draft_id = ?", (draft,)) if draft is not None else ("", ())
        return self._requests(f"SELECT id FROM requests {where} ORDER BY id DESC LIMIT ?", (*args, limit))[::-1]

    def request(self, request: int) -> Request | None:
        found = self._requests("SELECT ?", (request,))
        return found[0] if found else None

    def _requests(self, ids_sql: str, args: tuple[object, ...]) -> list[Request]:
        """The requests whose ids `ids_sql` selects, oldest first: three indexed queries in all."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_REQUEST_COLUMNS} FROM requests WHERE id IN ({ids_sql}) ORDER BY id", args
            ).fetchall()
            alternatives = self._db.execute(
                "SELECT request_id, idx, text, tokens, finish_reason FROM alternatives "
                f"WHERE request_id IN ({ids_sql}) ORDER BY request_id, idx",
                args,
            ).fetchall()
            choices = self._db.execute(
                f"SELECT request_id, id, idx, accepted, kind FROM choices WHERE request_id IN ({ids_sql}) ORDER BY id",
                args,
            ).fetchall()
        found: dict[int, tuple[list[StoredAlternative], list[Choice]]] = {}
        for rid, *alternative in alternatives:
            found.setdefault(rid, ([], []))[0].append(StoredAlternative(*alternative))
        for rid, *choice in choices:
            found.setdefault(rid, ([], []))[1].append(Choice(*choice))
        requests = []
        for rid, draft_id, created_at, model, prompt, settings, draft_text, cursor, parent in rows:
            alternatives_of, choices_of = found.get(rid, ([], []))
            requests.append(
                Request(
                    rid,
                    draft_id,
                    created_at,
                    model,
                    prompt,
                    json.loads(settings),
                    draft_text,
                    cursor,
                    parent,
                    tuple(alternatives_of),
                    tuple(choices_of),
                )
            )
        return requests

    def is_node_text(self, draft: int, text: str) -> bool:
        """Whether some request of the draft was made on exactly this text."""
        return bool(self._read("SELECT 1 FROM requests WHERE draft_id = ? AND draft_text = ? LIMIT 1", (draft, text)))

    def latest_choice(self, draft: int) -> int | None:
        """The draft's last acceptance: what its next request follows."""
        rows = self._read(
            "SELECT max(c.id) FROM requests r JOIN choices c ON c.request_id = r.id WHERE r.draft_id = ?", (draft,)
        )
        latest: int | None = rows[0][0]
        return latest

    def tree(self, draft: int) -> list[Node]:
        """The draft's tree of choices: its root requests, each alternative a branch holding the
        requests made after it was accepted. Requests that never showed alternatives are left out."""
        requests = [r for r in self._requests("SELECT id FROM requests WHERE draft_id = ?", (draft,)) if r.alternatives]
        following: dict[int | None, list[Request]] = {}
        for request in requests:
            following.setdefault(request.parent_choice_id, []).append(request)

        def node(request: Request) -> Node:
            branches = []
            for alternative in request.alternatives:
                accepted = tuple(c for c in request.choices if c.index == alternative.index)
                children = tuple(node(child) for c in accepted for child in following.get(c.id, []))
                branches.append(Branch(alternative, accepted, children))
            return Node(request, tuple(branches))

        known = {c.id for r in requests for c in r.choices}
        return [node(r) for r in requests if r.parent_choice_id is None or r.parent_choice_id not in known]

    def search(self, text: str, limit: int = 50, marks: tuple[str, str] = ("[", "]")) -> list[Hit]:
        """Drafts and alternatives containing `text` (FTS5, each word as a prefix), best first;
        in each snippet the matched words are put between `marks`."""
        words = [w.replace('"', '""') for w in text.split()]
        if not words:
            return []
        query = " ".join(f'"{w}"*' for w in words)
        rows = self._read(
            "SELECT * FROM (SELECT 'draft', rowid, snippet(drafts_search, 0, :open, :close, '…', 12), rank "
            "               FROM drafts_search WHERE drafts_search MATCH :q ORDER BY rank LIMIT :n) "
            "UNION ALL "
            "SELECT 'alternative', a.request_id || ':' || a.idx, hit.snippet, hit.rank FROM "
            "  (SELECT rowid, snippet(alternatives_search, 0, :open, :close, '…', 12) AS snippet, rank "
            "   FROM alternatives_search WHERE alternatives_search MATCH :q ORDER BY rank LIMIT :n) AS hit "
            "  JOIN alternatives a ON a.id = hit.rowid "
            "ORDER BY 4 LIMIT :n",
            {"q": query, "n": limit, "open": marks[0], "close": marks[1]},
        )
        return [Hit(kind, str(ref), snippet) for kind, ref, snippet, _ in rows]


def unusable_reason(error: OSError | sqlite3.Error) -> str:
    """Why the history file could not be opened, in a few words: "PATH: reason"."""
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return f"{getattr(error, 'filename', None) or 'history.db'}: {reason}"


def _revision(row: tuple[Any, ...]) -> Revision:
    revision_id, draft_id, revision, saved_at, text, recovered = row
    return Revision(revision_id, draft_id, revision, saved_at, text, bool(recovered))


def _inserted(cursor: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just added (sqlite3 types it as optional: it is set after any INSERT)."""
    assert cursor.lastrowid is not None
    return cursor.lastrowid
