"""What the history hands out: plain, immutable records."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Draft:
    id: int
    updated_at: float
    text: str
    revision: int = 0  # how many times its text was saved
    recovered: int = 0  # recovered revisions: stale saves kept beside the newer text


@dataclass(frozen=True)
class Revision:
    """A past text of a draft, or (`recovered`) a save that arrived with a stale revision."""

    id: int
    draft_id: int
    revision: int  # the draft's revision this text replaced, or was based on
    saved_at: float
    text: str
    recovered: bool


@dataclass(frozen=True)
class Saved:
    """What `save_draft` did: the draft's revision now, and whether the text was kept apart
    (`conflict`) because the draft had changed since the revision it was based on."""

    revision: int
    conflict: bool = False


@dataclass(frozen=True)
class Hit:
    """A search result: a draft (ref: its id) or an alternative (ref: request id:index)."""

    kind: str
    ref: str
    snippet: str
