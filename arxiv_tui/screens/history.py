"""The history screen: past drafts, or search hits over drafts and alternatives, with a preview."""

from __future__ import annotations

import datetime

from rich.text import Text

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from arxiv_tui.history import History


def _one_line(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


class HistoryScreen(ModalScreen[tuple[str, str] | None]):
    """Enter on a draft restores it ("draft", id); on an alternative inserts it ("text", text)."""

    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, history: History) -> None:
        super().__init__()
        self.history = history
        self._values: dict[str, tuple[str, str]] = {}  # option id -> what choosing it returns
        self._previews: dict[str, Text] = {}

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Search drafts and alternatives…", id="history-search")
        with Horizontal():
            yield OptionList(id="history-list")
            yield Static("", id="history-preview")

    def on_mount(self) -> None:
        self._show_drafts()
        self.query_one("#history-search", Input).focus()

    def _fill(self, rows: list[tuple[str, str, tuple[str, str], Text]]) -> None:
        """rows: (option id, label, value on Enter, preview)."""
        options = self.query_one("#history-list", OptionList)
        options.clear_options()
        self._values = {oid: value for oid, _, value, _ in rows}
        self._previews = {oid: preview for oid, _, _, preview in rows}
        options.add_options([Option(label, id=oid) for oid, label, _, _ in rows])
        if rows:
            options.highlighted = 0

    def _show_drafts(self) -> None:
        rows = []
        for draft in self.history.drafts():
            when = datetime.datetime.fromtimestamp(draft.updated_at).strftime("%Y-%m-%d %H:%M")
            rows.append((f"d{draft.id}", f"{when}  {_one_line(draft.text) or '(empty)'}", ("draft", str(draft.id)), Text(draft.text)))
        self._fill(rows)

    def on_input_changed(self, event: Input.Changed) -> None:
        if not event.value.strip():
            self._show_drafts()
            return
        rows = []
        for n, hit in enumerate(self.history.search(event.value)):
            if hit.kind == "draft":
                draft = self.history.draft(int(hit.ref))
                rows.append((f"h{n}", f"draft  {_one_line(hit.snippet)}", ("draft", hit.ref), Text(draft.text if draft else "")))
            else:
                request_id, idx = (int(x) for x in hit.ref.split(":"))
                request = self.history.request(request_id)
                text = request["alternatives"][idx]["text"] if request else ""
                preview = Text.assemble(request["prompt"] if request else "", (text, "bold"))
                rows.append((f"h{n}", f"alternative  {_one_line(hit.snippet)}", ("text", text), preview))
        self._fill(rows)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.query_one("#history-preview", Static).update(self._previews.get(event.option.id, Text()))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._values[event.option.id])

    def on_input_submitted(self) -> None:
        options = self.query_one("#history-list", OptionList)
        if options.highlighted is not None:
            self.dismiss(self._values[options.get_option_at_index(options.highlighted).id])

    def action_close(self) -> None:
        self.dismiss(None)

    DEFAULT_CSS = """
    HistoryScreen { background: $background 60%; }
    #history-search { margin: 1 2 0 2; }
    HistoryScreen Horizontal { margin: 0 2 1 2; }
    #history-list { width: 1fr; }
    #history-preview { width: 1fr; border: round $panel-lighten-2; padding: 0 1; overflow-y: auto; }
    """
