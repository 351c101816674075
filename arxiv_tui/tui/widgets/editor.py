"""The abstract editor."""

from __future__ import annotations

from collections.abc import Callable

from textual import events
from textual.widgets import TextArea


class DraftEditor(TextArea):
    """A soft-wrapping TextArea whose digit keys pick an alternative while one is showing.

    Textual lets a focused TextArea consume printable keys before any binding sees them; this
    gives 1..9 up only when `can_pick(index)` says that alternative can be accepted, so typing
    "in 2019" still types whenever no suggestion is on screen.
    """

    def __init__(self, can_pick: Callable[[int], bool], **kwargs) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self.can_pick = can_pick

    def show_ghost(self, text: str) -> None:
        """Show `text` after the cursor as a suggestion, cut to what fits on the cursor's row.

        The rest would not show anyway, and a suggestion that stops changing once its row is
        full spares a redraw of every visible line (TextArea keys its line cache on it) for
        each batch of streamed tokens."""
        room = self.content_region.right - self.cursor_screen_offset.x
        self.suggestion = text[: max(room, 0)]

    def on_key(self, event: events.Key) -> None:
        if event.key.startswith("alt+"):
            event.prevent_default()  # a chord (Alt+] with nothing to cycle), not text: TextArea would type it

    def check_consume_key(self, key: str, character: str | None) -> bool:
        if character is not None and character in "123456789" and self.can_pick(int(character) - 1):
            return False
        return super().check_consume_key(key, character)
