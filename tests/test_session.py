"""The drafting screen's state without any UI: requests, the tree position, acceptances."""

from __future__ import annotations

from concurrent.futures import Future

from arxiv_tui.tui.session import Acceptance, DraftSession


def _acceptance(request, parent, text_after: str) -> Acceptance:
    return Acceptance(
        request, parent, start=2, text=" x", text_after=text_after, cards=((" x", "length"),), highlighted=0
    )


def test_each_request_supersedes_the_last_and_follows_the_last_acceptance():
    session = DraftSession()
    session.open(latest_choice=7)
    first = session.sent()
    assert session.is_current(first) and session.node_parent == 7 and not session.stale
    second = session.sent()
    assert not session.is_current(first) and session.is_current(second)


def test_an_acceptance_is_followed_and_can_be_taken_back_only_while_the_text_is_unchanged():
    session = DraftSession()
    session.open(latest_choice=None)
    session.sent()
    request, choice = Future(), Future()  # ids the history has not written yet
    session.accepted(_acceptance(request, None, "We x"), choice)
    assert session.parent_choice is choice
    session.sent()
    assert session.node_parent is choice  # the next request follows the acceptance
    assert session.undoable("We x y") is None  # typed since: Ctrl+Z is the editor's
    assert session.undoable("We x").request is request
    taken = session.take_back()
    session.show_node(taken.request, taken.parent_choice)
    assert session.request is request and session.parent_choice is None and session.undoable("We x") is None


def test_showing_a_stored_node_drops_what_still_streams():
    session = DraftSession()
    streaming = session.sent()
    session.show_node(request=3, parent_choice=2)
    assert not session.is_current(streaming) and (session.request, session.parent_choice) == (3, 2)


def test_opening_or_jumping_forgets_the_acceptances():
    session = DraftSession()
    session.accepted(_acceptance(1, None, "a"), 5)
    session.jumped()
    assert session.undoable("a") is None
    session.accepted(_acceptance(1, None, "a"), 5)
    session.open(latest_choice=9)
    assert session.undoable("a") is None and session.parent_choice == 9
