"""What the drafting screen remembers between keys, without any UI, so tests can drive it alone.

Every request is a node of the draft's tree. The session numbers the requests sent to the engine
(deltas of an older one are dropped), knows which history node the shown alternatives belong to,
which acceptance the next request follows, whether the shown alternatives still continue the
text at the cursor (`stale`), and which acceptances Ctrl+Z can take back.

History ids may be Futures: the history writes them on its own thread, and a later write takes
the Future of an earlier one as its argument (see `arxiv_tui.store.writer`).
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

Cards = tuple[tuple[str, "str | None"], ...]  # (text, finish_reason) of each alternative shown


@dataclass(frozen=True)
class Acceptance:
    """One accepted alternative (or part of one) and the state just before it."""

    request: int | Future[int]  # the tree node whose alternative was accepted
    parent_choice: int | Future[int] | None  # the acceptance that node itself follows
    start: int  # character offset where the text went in
    text: str
    text_after: str  # the whole draft right after, to tell whether anything changed since
    cards: Cards  # the alternatives as they were shown before
    highlighted: int


class DraftSession:
    """The state of drafting one draft: requests, the tree position, acceptances, staleness."""

    def __init__(self) -> None:
        self.request_id = 0  # the newest request sent to the engine
        self.request: int | Future[int] | None = None  # the history node the shown cards belong to
        self.parent_choice: int | Future[int] | None = None  # the acceptance the next request follows
        self.node_parent: int | Future[int] | None = None  # the acceptance the shown node follows
        self.stale = True  # the cards no longer continue the text at the cursor: not pickable
        self._acceptances: list[Acceptance] = []

    def open(self, latest_choice: int | None) -> None:
        """A draft was opened: its next request follows its last acceptance."""
        self._acceptances.clear()
        self.parent_choice = self.node_parent = latest_choice

    def sent(self) -> int:
        """A new request goes to the engine: its id (the cards now belong to it)."""
        self.request_id += 1
        self.node_parent = self.parent_choice
        self.stale = False
        return self.request_id

    def current_request(self) -> int | Future[int]:
        """The history node of the cards shown: set as a request is recorded, before any card can
        be picked or saved."""
        assert self.request is not None
        return self.request

    def is_current(self, request_id: int) -> bool:
        return request_id == self.request_id

    def accepted(self, acceptance: Acceptance, choice: int | Future[int]) -> None:
        """`acceptance` was recorded in the history as `choice`: what follows, follows it."""
        self._acceptances.append(acceptance)
        self.parent_choice = choice

    def undoable(self, draft: str) -> Acceptance | None:
        """The newest acceptance, if the draft is still exactly as it left it."""
        if self._acceptances and self._acceptances[-1].text_after == draft:
            return self._acceptances[-1]
        return None

    def take_back(self) -> Acceptance:
        """Forget the newest acceptance (Ctrl+Z): the caller shows its node again."""
        return self._acceptances.pop()

    def show_node(self, request: int | Future[int], parent_choice: int | Future[int] | None) -> None:
        """The cards now show a stored node's alternatives, pickable; whatever still streams
        belongs to another node."""
        self.request_id += 1
        self.request = request
        self.node_parent = self.parent_choice = parent_choice
        self.stale = False

    def jumped(self) -> None:
        """The text was replaced by a node's (from the tree): no acceptance can be taken back."""
        self._acceptances.clear()
