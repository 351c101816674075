"""`--data history:[PATH]`: the writer's own drafts and accepted continuations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .records import DataError, Record, Source


def _records(spec: str) -> Iterator[Record]:
    """The writer's drafts and accepted continuations (`history:`, or `history:PATH` to a database)."""
    import sqlite3

    from arxiv_tui.store.training import training_texts

    path = Path(spec).expanduser() if spec else None
    try:
        texts = training_texts(path)
    except FileNotFoundError as exc:
        raise DataError(f"no history at {exc.args[0]}: draft in the app first") from None
    except sqlite3.DatabaseError as exc:
        raise DataError(f"cannot read the history database: {exc}") from None
    if not texts:
        raise DataError("the history has no drafts or accepted continuations yet")
    return (Record(text) for text in texts)


def open_history(spec: str) -> Source:
    """The history at `spec` (a database path; empty: the data directory's)."""
    return Source(f"history:{spec}", lambda _: _records(spec), None, "texts", None)
