"""What the app remembers about acceptances, so Ctrl+Z can take one back (UI-free)."""

from __future__ import annotations

from dataclasses import dataclass

Cards = tuple[tuple[str, "str | None"], ...]  # (text, finish_reason) of each alternative shown


@dataclass(frozen=True)
class Acceptance:
    """One accepted alternative (or part of one) and the state just before it."""

    request_id: int  # the tree node whose alternative was accepted
    parent_choice: int | None  # the acceptance that node itself follows
    start: int  # character offset where the text went in
    text: str
    text_after: str  # the whole draft right after, to tell whether anything changed since
    cards: Cards  # the alternatives as they were shown before
    highlighted: int


class AcceptanceStack:
    """Acceptances, newest last; only one the draft has not changed since can be undone."""

    def __init__(self) -> None:
        self._items: list[Acceptance] = []

    def push(self, acceptance: Acceptance) -> None:
        self._items.append(acceptance)

    def undoable(self, draft: str) -> Acceptance | None:
        """The newest acceptance if the draft is still exactly as it left it."""
        if self._items and self._items[-1].text_after == draft:
            return self._items[-1]
        return None

    def pop(self) -> Acceptance:
        return self._items.pop()

    def clear(self) -> None:
        self._items.clear()
