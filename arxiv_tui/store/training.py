"""The writer's own text, read from the history as training data (`finetune --data history:`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from arxiv_tui.paths import data_dir


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
