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
    file: str | None = None  # the paper the text lives in (`arxiv-tui paper.tex`)


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


@dataclass(frozen=True)
class StoredAlternative:
    index: int
    text: str
    tokens: int
    finish_reason: str | None


@dataclass(frozen=True)
class Choice:
    """(Part of) alternative `index` accepted: kind is whole, word or sentence."""

    id: int
    index: int
    accepted: str
    kind: str


@dataclass(frozen=True)
class Request:
    """A node of a draft's tree: the draft as it was (`draft_text`, `cursor`; `prompt` is the text
    before the cursor), the acceptance it follows (None: a root), what came back, what was taken."""

    id: int
    draft_id: int | None
    created_at: float
    model: str
    prompt: str
    settings: dict[str, object]
    draft_text: str
    cursor: int
    parent_choice_id: int | None
    alternatives: tuple[StoredAlternative, ...] = ()
    choices: tuple[Choice, ...] = ()


@dataclass(frozen=True)
class Branch:
    """An alternative of a tree node, what of it was accepted, and the nodes that followed."""

    alternative: StoredAlternative
    accepted: tuple[Choice, ...]
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Node:
    """A request in the tree of choices, with one branch per alternative."""

    request: Request
    branches: tuple[Branch, ...]
