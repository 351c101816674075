"""The history database's schema, one migration step per version (`PRAGMA user_version`).

Each entry of `MIGRATIONS` takes the schema from version i to i + 1, atomically, and has a test
of its own on a file of the version before it. Never edit a step that has shipped: add one.
"""

from __future__ import annotations

import sqlite3
import time


def _search_triggers(table: str) -> str:
    """Triggers that keep `{table}_search`, an external-content FTS5 index of `{table}.text`, in
    step with its rows. Part of migration 4: never change what it returns."""
    return f"""
    CREATE TRIGGER {table}_indexed AFTER INSERT ON {table} BEGIN
        INSERT INTO {table}_search (rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER {table}_unindexed AFTER DELETE ON {table} BEGIN
        INSERT INTO {table}_search ({table}_search, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TRIGGER {table}_reindexed AFTER UPDATE OF text ON {table} BEGIN
        INSERT INTO {table}_search ({table}_search, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO {table}_search (rowid, text) VALUES (new.id, new.text);
    END;
    """


MIGRATIONS: list[str] = [
    # 1: drafts, requests, their alternatives, the user's choices.
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
    # 2: full-text search over drafts and alternatives, filled from what version 1 already holds.
    """
    CREATE VIRTUAL TABLE search USING fts5(kind UNINDEXED, ref UNINDEXED, text);
    INSERT INTO search (kind, ref, text) SELECT 'draft', id, text FROM drafts;
    INSERT INTO search (kind, ref, text)
        SELECT 'alternative', request_id || ':' || idx, text FROM alternatives;
    """,
    # 3: the tree of choices: each request remembers the whole draft and the cursor it was made
    # at, and the acceptance it follows (NULL: a root). Older requests only knew their prompt.
    """
    ALTER TABLE requests ADD COLUMN parent_choice_id INTEGER REFERENCES choices(id);
    ALTER TABLE requests ADD COLUMN draft_text TEXT;
    ALTER TABLE requests ADD COLUMN cursor INTEGER;
    UPDATE requests SET draft_text = prompt, cursor = length(prompt);
    """,
    # 4: a cost that stays flat as the history grows, and drafts no second window can overwrite.
    # - Version 2's index found its rows by `kind`/`ref` columns it cannot index (a scan of every
    #   row per save). Each table now has an external-content index keyed by the row's own id, kept
    #   in step by triggers; alternatives get an id of their own for it (a rowid alias: VACUUM
    #   keeps it).
    # - An index on every foreign key that is queried, and on the drafts' order.
    # - `revision` counts a draft's saves: a save based on an older revision is kept apart, never
    #   written over newer text. `draft_revisions` holds past texts (bounded) and such recovered
    #   ones. `draft_leases` says which running instance edits which draft.
    """
    CREATE TABLE alternatives_v4 (
        id INTEGER PRIMARY KEY, request_id INTEGER NOT NULL REFERENCES requests(id), idx INTEGER NOT NULL,
        text TEXT NOT NULL, tokens INTEGER NOT NULL, finish_reason TEXT, UNIQUE (request_id, idx)
    );
    INSERT INTO alternatives_v4 (request_id, idx, text, tokens, finish_reason)
        SELECT request_id, idx, text, tokens, finish_reason FROM alternatives ORDER BY request_id, idx;
    DROP TABLE alternatives;
    ALTER TABLE alternatives_v4 RENAME TO alternatives;
    DROP TABLE search;

    CREATE VIRTUAL TABLE drafts_search USING fts5(text, content='drafts', content_rowid='id');
    CREATE VIRTUAL TABLE alternatives_search USING fts5(text, content='alternatives', content_rowid='id');
    INSERT INTO drafts_search (drafts_search) VALUES ('rebuild');
    INSERT INTO alternatives_search (alternatives_search) VALUES ('rebuild');
    """
    + _search_triggers("drafts")
    + _search_triggers("alternatives")
    + """

    CREATE INDEX drafts_by_update ON drafts (updated_at, id);
    CREATE INDEX requests_by_draft ON requests (draft_id, id);
    CREATE INDEX choices_by_request ON choices (request_id, id);

    ALTER TABLE drafts ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE draft_revisions (
        id INTEGER PRIMARY KEY, draft_id INTEGER NOT NULL REFERENCES drafts(id), revision INTEGER NOT NULL,
        saved_at REAL NOT NULL, text TEXT NOT NULL, recovered INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX revisions_by_draft ON draft_revisions (draft_id, recovered, id);
    CREATE TABLE draft_leases (
        draft_id INTEGER PRIMARY KEY REFERENCES drafts(id), instance TEXT NOT NULL, host TEXT NOT NULL,
        pid INTEGER NOT NULL, pid_started TEXT, taken_at REAL NOT NULL
    );
    """,
    # 5: the file a draft's abstract lives in (a paper's .tex), where it came from and goes back to.
    """
    ALTER TABLE drafts ADD COLUMN file TEXT;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema up to `target`, each step atomic on its own; returns the version.

    Each step reads the version inside its own write transaction, so two instances opening a
    new file at once do not both run a step (the second waits, then finds it done)."""
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            version: int = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"history schema {version} is newer than this arxiv-tui ({SCHEMA_VERSION})")
            if version >= target:
                db.execute("COMMIT")
                return version
            for statement in _statements(MIGRATIONS[version]):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def _statements(script: str) -> list[str]:
    """The statements of `script`, one by one (a trigger's body stays whole)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"an unfinished statement: {current}")
    return statements


def use_wal(db: sqlite3.Connection, busy_timeout_s: float = 5.0) -> None:
    """Switch a file to WAL (once for good). Switching needs the file to itself and SQLite does
    not wait for that (no busy handler), so two instances creating the file at once retry."""
    deadline = time.monotonic() + busy_timeout_s
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
