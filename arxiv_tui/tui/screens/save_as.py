"""Ctrl+S: save the draft to a file the user names (the way out when the history can't be
written). A path that can't be written says why and stays open for another try."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from arxiv_tui.store.files import default_path


class SaveAsScreen(ModalScreen[Path | None]):
    """Returns the path the draft was saved to, or None."""

    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, text: str, save: Callable[[Path, str], Path]) -> None:
        super().__init__()
        self.text = text
        self.save = save  # writes the text to the path, raising OSError

    def compose(self) -> ComposeResult:
        with Vertical(id="save-as"):
            yield Static("Save the draft as (Enter saves, Esc cancels):")
            yield Input(str(default_path()), id="save-as-path")
            yield Static("", id="save-as-error")

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        path = Path(event.value.strip())
        if not event.value.strip():
            return
        try:
            saved = await asyncio.to_thread(self.save, path, self.text)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self.query_one("#save-as-error", Static).update(f"[red]Not saved: {reason} ({exc.filename or path})[/]")
            return
        self.app.notify(f"Draft saved to {saved}")
        self.dismiss(saved)

    def action_close(self) -> None:
        self.dismiss(None)

    DEFAULT_CSS = """
    SaveAsScreen { align: center middle; background: $background 60%; }
    #save-as { width: 80; height: auto; padding: 1 2; border: round $accent; background: $panel; }
    #save-as-path { margin: 1 0 0 0; }
    """
