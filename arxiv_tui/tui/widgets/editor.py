"""The abstract editor: digits that pick, ghost text, autosave, and edits of the app's own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from textual import events
from textual.timer import Timer
from textual.widgets import TextArea
from textual.widgets.text_area import Document, Location

AUTOSAVE_S = 0.5  # a draft is saved this long after the last change


class DraftEditor(TextArea):
    """A soft-wrapping TextArea whose digit keys pick an alternative while one is showing.

    Textual lets a focused TextArea consume printable keys before any binding sees them; this
    gives 1..9 up only when `can_pick(index)` says that alternative can be accepted, so typing
    "in 2019" still types whenever no suggestion is on screen.
    """

    def __init__(
        self,
        can_pick: Callable[[int], bool],
        on_save: Callable[[], None],
        on_edit: Callable[[], None] = lambda: None,
        **kwargs: Any,
    ) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self.can_pick = can_pick
        self.on_save = on_save  # called AUTOSAVE_S after the last change
        self.on_edit = on_edit  # called at once after every change, the app's own included
        self._autosave: Timer | None = None

    @contextmanager
    def own_edit(self) -> Iterator[None]:
        """An edit the app makes itself (accepting, replacing a word, loading a draft): saved like
        any, but no `Changed` message is posted for it, so it asks for no alternatives."""
        with self.prevent(TextArea.Changed):
            yield
        self._schedule_autosave()

    def _plain_document(self) -> Document:
        assert isinstance(self.document, Document)  # no syntax highlighting: a plain Document
        return self.document

    def text_before_cursor(self) -> str:
        return self.document.get_text_range((0, 0), self.cursor_location)

    def cursor_offset(self) -> int:
        return self.offset_of(self.cursor_location)

    def offset_of(self, location: Location) -> int:
        """The character offset in the text of a (row, column) location."""
        return self._plain_document().get_index_from_location(location)

    def location_of(self, offset: int) -> Location:
        """The (row, column) location of a character offset in the text."""
        return self._plain_document().get_location_from_index(offset)

    def replace_own(self, start: int, end: int, text: str) -> None:
        """Replace characters `start:end` with `text`, as an edit of the app's own."""
        with self.own_edit():
            self.replace(text, self.location_of(start), self.location_of(end))

    def load_own(self, text: str) -> None:
        """The whole text replaced by `text`, as an edit of the app's own."""
        with self.own_edit():
            self.load_text(text)

    def on_text_area_changed(self) -> None:
        self._schedule_autosave()

    def _schedule_autosave(self) -> None:
        self.on_edit()
        self.stop_autosave()
        self._autosave = self.set_timer(AUTOSAVE_S, self.on_save)

    def stop_autosave(self) -> None:
        if self._autosave is not None:
            self._autosave.stop()

    def show_ghost(self, text: str) -> None:
        """Show `text` after the cursor as a suggestion, cut to what fits on the cursor's row.

        The rest would not show anyway, so a suggestion stops changing once its row is full; and
        only the cursor's row is redrawn, not every visible line (TextArea would redraw the whole
        editor for any change of its `suggestion`) for each batch of streamed tokens."""
        room = self.content_region.right - self.cursor_screen_offset.x
        ghost = text[: max(room, 0)]
        if ghost != self.suggestion:
            self.set_reactive(TextArea.suggestion, ghost)
            self.refresh_lines(self.wrapped_document.location_to_offset(self.cursor_location).y)

    def on_key(self, event: events.Key) -> None:
        if event.key.startswith("alt+"):
            event.prevent_default()  # a chord (Alt+] with nothing to cycle), not text: TextArea would type it

    def check_consume_key(self, key: str, character: str | None = None) -> bool:
        if character is not None and character in "123456789" and self.can_pick(int(character) - 1):
            return False
        return super().check_consume_key(key, character)
