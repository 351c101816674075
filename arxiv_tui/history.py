"""Drafts, generation requests, their alternatives and the user's choices, in SQLite.

The database lives in the user data directory. WAL and a busy timeout let two running
instances share it. `PRAGMA user_version` is the schema version; each entry of `MIGRATIONS`
takes the schema one version up, and is tested on its own. A file SQLite cannot read is moved
aside (kept, never deleted) and a fresh one started; `History.notice` then says so.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from arxiv_tui.settings import data_dir

BUSY_TIMEOUT_S = 5.0


# Each entry takes the schema from version i to i + 1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE drafts (
        id INTEGER PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL, text TEXT NOT NULL
    );
    CREATE TABLE requests (
        id INTEGER PRIMARY KEY, draft_id INTEGER REFERENCES drafts(id), created_at REAL NOT NULL,
        model TEXT NOT NULL, prompt TEXT NOT NULL, settings TEXT NOT NULL
    );
    CREATE TABLE alternatives (
        request_id INTEGER NOT NULL REFERENCES requests(id), idx INTEGER NOT NULL,
        text TEXT NOT NULL, tokens INTEGER NOT NULL, finish_reason TEXT,
        PRIMARY KEY (request_id, idx)
    );
    CREATE TABLE choices (
        id INTEGER PRIMARY KEY, request_id INTEGER NOT NULL REFERENCES requests(id),
        idx INTEGER NOT NULL, accepted TEXT NOT NULL, kind TEXT NOT NULL, created_at REAL NOT NULL
    );
    """,
    # Full-text search over drafts and alternatives, filled from what version 1 already holds.
    """
    CREATE VIRTUAL TABLE search USING fts5(kind UNINDEXED, ref UNINDEXED, text);
    INSERT INTO search (kind, ref, text) SELECT 'draft', id, text FROM drafts;
    INSERT INTO search (kind, ref, text)
        SELECT 'alternative', request_id || ':' || idx, text FROM alternatives;
    """,
    # The tree of choices: each request remembers the whole draft and the cursor it was made at,
    # and the acceptance it follows (NULL: a root). Older requests only knew their prompt.
    """
    ALTER TABLE requests ADD COLUMN parent_choice_id INTEGER REFERENCES choices(id);
    ALTER TABLE requests ADD COLUMN draft_text TEXT;
    ALTER TABLE requests ADD COLUMN cursor INTEGER;
    UPDATE requests SET draft_text = prompt, cursor = length(prompt);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema up to `target`, each step atomic on its own; returns the version."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(f"history schema {version} is newer than this arxiv-tui ({SCHEMA_VERSION})")
    for step in range(version, target):
        db.executescript(f"BEGIN IMMEDIATE; {MIGRATIONS[step]} PRAGMA user_version = {step + 1}; COMMIT;")
    return max(version, target)


@dataclass(frozen=True)
class Draft:
    id: int
    updated_at: float
    text: str


@dataclass(frozen=True)
class Hit:
    """A search result: a draft or an alternative containing the text."""

    kind: str
    ref: str
    snippet: str


class History:
    """The history database; safe to call from the UI thread and a worker thread."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or data_dir() / "history.db"
        self.notice: str | None = None  # set when a corrupt file was moved aside
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            kept = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            self.path.replace(kept)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self.notice = f"the history database could not be read ({exc}); it was kept as {kept} and a new one started"
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            db.execute("PRAGMA journal_mode = WAL")
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("integrity check failed")
            migrate(db)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, args: tuple = ()) -> int:
        with self._lock:
            return self._db.execute(sql, args).lastrowid

    def _read(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # Drafts ---------------------------------------------------------------------------------
    def new_draft(self, text: str = "") -> int:
        now = time.time()
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            draft = self._db.execute(
                "INSERT INTO drafts (created_at, updated_at, text) VALUES (?, ?, ?)", (now, now, text)
            ).lastrowid
            self._db.execute("INSERT INTO search (kind, ref, text) VALUES ('draft', ?, ?)", (draft, text))
        return draft

    def save_draft(self, draft: int, text: str) -> None:
        """Store the draft's text; an unchanged text keeps its time (and costs no index update)."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            changed = self._db.execute(
                "UPDATE drafts SET text = ?, updated_at = ? WHERE id = ? AND text != ?", (text, time.time(), draft, text)
            ).rowcount
            if changed:
                self._db.execute("UPDATE search SET text = ? WHERE kind = 'draft' AND ref = ?", (text, draft))

    def draft(self, draft: int) -> Draft | None:
        rows = self._read("SELECT id, updated_at, text FROM drafts WHERE id = ?", (draft,))
        return Draft(*rows[0]) if rows else None

    def latest_draft(self) -> Draft | None:
        rows = self._read("SELECT id, updated_at, text FROM drafts ORDER BY updated_at DESC, id DESC LIMIT 1")
        return Draft(*rows[0]) if rows else None

    def drafts(self, limit: int = 100) -> list[Draft]:
        rows = self._read("SELECT id, updated_at, text FROM drafts ORDER BY updated_at DESC LIMIT ?", (limit,))
        return [Draft(*row) for row in rows]

    # Requests, alternatives, choices -----------------------------------------------------------
    def add_request(self, draft: int | None, model: str, prompt: str, settings: dict,
                    draft_text: str | None = None, cursor: int | None = None, parent_choice: int | None = None) -> int:
        """A new node of the draft's tree: `prompt` is the text before `cursor` in `draft_text`;
        `parent_choice` the acceptance it follows (None: a root)."""
        draft_text = prompt if draft_text is None else draft_text
        return self._write(
            "INSERT INTO requests (draft_id, created_at, model, prompt, settings, draft_text, cursor, parent_choice_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (draft, time.time(), model, prompt, json.dumps(settings, sort_keys=True), draft_text,
             len(prompt) if cursor is None else cursor, parent_choice),
        )

    def save_alternatives(self, request: int, alternatives: list[tuple[str, int, str | None]]) -> None:
        """Store a request's alternatives as (text, tokens, finish_reason), replacing earlier ones."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM alternatives WHERE request_id = ?", (request,))
            self._db.execute("DELETE FROM search WHERE kind = 'alternative' AND ref LIKE ?", (f"{request}:%",))
            for idx, (text, tokens, reason) in enumerate(alternatives):
                self._db.execute(
                    "INSERT INTO alternatives (request_id, idx, text, tokens, finish_reason) VALUES (?, ?, ?, ?, ?)",
                    (request, idx, text, tokens, reason),
                )
                self._db.execute(
                    "INSERT INTO search (kind, ref, text) VALUES ('alternative', ?, ?)", (f"{request}:{idx}", text)
                )

    def add_choice(self, request: int, idx: int, accepted: str, kind: str) -> int:
        """Record that (part of) alternative `idx` was accepted; kind: whole, word or sentence."""
        return self._write(
            "INSERT INTO choices (request_id, idx, accepted, kind, created_at) VALUES (?, ?, ?, ?, ?)",
            (request, idx, accepted, kind, time.time()),
        )

    def requests(self, draft: int | None = None, limit: int = 100) -> list[dict]:
        where, args = ("WHERE draft_id = ?", (draft,)) if draft is not None else ("", ())
        rows = self._read(
            f"SELECT id FROM requests {where} ORDER BY id DESC LIMIT ?",
            (*args, limit),
        )
        return [self.request(row[0]) for row in rows]

    def request(self, request: int) -> dict | None:
        rows = self._read(
            "SELECT id, draft_id, created_at, model, prompt, settings, draft_text, cursor, parent_choice_id "
            "FROM requests WHERE id = ?", (request,))
        if not rows:
            return None
        rid, draft, created, model, prompt, settings, draft_text, cursor, parent = rows[0]
        alternatives = self._read(
            "SELECT idx, text, tokens, finish_reason FROM alternatives WHERE request_id = ? ORDER BY idx", (rid,)
        )
        choices = self._read("SELECT id, idx, accepted, kind FROM choices WHERE request_id = ? ORDER BY id", (rid,))
        return {
            "id": rid, "draft_id": draft, "created_at": created, "model": model, "prompt": prompt,
            "settings": json.loads(settings), "draft_text": draft_text, "cursor": cursor, "parent_choice_id": parent,
            "alternatives": [{"index": i, "text": t, "tokens": n, "finish_reason": r} for i, t, n, r in alternatives],
            "choices": [{"id": c, "index": i, "accepted": a, "kind": k} for c, i, a, k in choices],
        }

    def is_node_text(self, draft: int, text: str) -> bool:
        """Whether some request of the draft was made on exactly this text."""
        return bool(self._read("SELECT 1 FROM requests WHERE draft_id = ? AND draft_text = ? LIMIT 1", (draft, text)))

    def latest_choice(self, draft: int) -> int | None:
        """The draft's last acceptance: what its next request follows."""
        rows = self._read("SELECT c.id FROM choices c JOIN requests r ON r.id = c.request_id "
                          "WHERE r.draft_id = ? ORDER BY c.id DESC LIMIT 1", (draft,))
        return rows[0][0] if rows else None

    def tree(self, draft: int) -> list[dict]:
        """The draft's tree of choices: root requests, each alternative holding `children`, the
        requests made after it was accepted. Requests that never showed alternatives are left out."""
        requests = [r for r in reversed(self.requests(draft, limit=1_000_000)) if r["alternatives"]]
        by_choice: dict[int, list[dict]] = {}
        for request in requests:
            by_choice.setdefault(request["parent_choice_id"], []).append(request)
        for request in requests:
            for alternative in request["alternatives"]:
                choices = [c for c in request["choices"] if c["index"] == alternative["index"]]
                alternative["accepted"] = [{"text": c["accepted"], "kind": c["kind"]} for c in choices]
                alternative["children"] = [child for c in choices for child in by_choice.get(c["id"], [])]
        known = {c["id"] for r in requests for c in r["choices"]}
        return [r for r in requests if r["parent_choice_id"] is None or r["parent_choice_id"] not in known]

    def search(self, text: str, limit: int = 50) -> list[Hit]:
        """Drafts and alternatives containing `text` (FTS5, each word as a prefix)."""
        words = [w.replace('"', '""') for w in text.split()]
        if not words:
            return []
        query = " ".join(f'"{w}"*' for w in words)
        rows = self._read(
            "SELECT kind, ref, snippet(search, 2, '[', ']', '…', 12) FROM search WHERE search MATCH ? "
            "ORDER BY rank LIMIT ?",
            (query, limit),
        )
        return [Hit(kind, str(ref), snippet) for kind, ref, snippet in rows]


def training_texts(path: Path | None = None) -> list[str]:
    """The writer's own text as training data: every non-empty draft, and every prompt with the
    continuation (whole or to a sentence end) accepted there. Read-only; the file is not touched.

    Raises FileNotFoundError when there is no history, sqlite3.DatabaseError when it is unreadable.
    """
    path = path or data_dir() / "history.db"
    if not path.is_file():
        raise FileNotFoundError(path)
    db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        drafts = db.execute("SELECT text FROM drafts WHERE trim(text) != '' ORDER BY id").fetchall()
        accepted = db.execute(
            "SELECT r.prompt || c.accepted FROM choices c JOIN requests r ON r.id = c.request_id "
            "WHERE c.kind IN ('whole', 'sentence') ORDER BY c.id"
        ).fetchall()
    finally:
        db.close()
    return [text for (text,) in drafts + accepted]
