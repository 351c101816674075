"""The history screen: past drafts, search hits over drafts and alternatives, or one draft's
revisions (F4), with a preview. Everything is read in a worker thread (see `DraftKeeper.read`)."""

from __future__ import annotations

import datetime
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from arxiv_tui.store.history import History
from arxiv_tui.tui.text import one_line

Row = tuple[str, Text, tuple[str, str], Text]  # option id, label, value on Enter, preview


def _when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def draft_rows(history: History) -> list[Row]:
    rows = []
    for draft in history.drafts():
        label = Text(f"{_when(draft.updated_at)}  {one_line(draft.text) or '(empty)'}")
        if draft.recovered:
            label.append(f"  ⚠ {draft.recovered} recovered (F4)", "bold yellow")
        rows.append((f"d{draft.id}", label, ("draft", str(draft.id)), Text(draft.text)))
    return rows


def revision_rows(history: History, draft: int) -> list[Row]:
    rows = []
    for revision in history.revisions(draft):
        kind = "recovered" if revision.recovered else f"revision {revision.revision}"
        label = Text(f"{_when(revision.saved_at)}  {kind:<12} {one_line(revision.text, 48)}")
        rows.append((f"r{revision.id}", label, ("revision", str(revision.id)), Text(revision.text)))
    return rows


_MATCH = ("\x02", "\x03")  # around the matched words of a snippet: characters no text holds


def _snippet(kind: str, snippet: str) -> Text:
    """`kind` and the snippet on one line, the matched words in bold (a Text, not markup: a
    draft's own brackets, as in "[12]", stay as they are)."""
    label = Text(f"{kind}  ")
    for n, part in enumerate(re.split("[\x02\x03]", one_line(snippet, 80))):
        label.append(part, "bold reverse" if n % 2 else "")
    return label


def search_rows(history: History, query: str) -> list[Row]:
    rows = []
    for n, hit in enumerate(history.search(query, marks=_MATCH)):
        if hit.kind == "draft":
            draft = history.draft(int(hit.ref))
            rows.append(
                (f"h{n}", _snippet("draft", hit.snippet), ("draft", hit.ref), Text(draft.text if draft else ""))
            )
        else:
            request_id, idx = (int(x) for x in hit.ref.split(":"))
            request = history.request(request_id)
            text = request.alternatives[idx].text if request else ""
            preview = Text.assemble(request.prompt if request else "", (text, "bold"))
            rows.append((f"h{n}", _snippet("alternative", hit.snippet), ("text", text), preview))
    return rows


class HistoryScreen(ModalScreen[tuple[str, str] | None]):
    """Enter on a draft opens it ("draft", id); on a revision opens it as a new draft
    ("revision", id); on an alternative inserts it ("text", text)."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("f4", "revisions", "Revisions / drafts"),
        # Up and Down move through the list while typing a search, as in the command palette.
        Binding("down", "move(1)", show=False),
        Binding("up", "move(-1)", show=False),
    ]

    def __init__(self, history: History, read: Callable[..., Awaitable[Any]]) -> None:
        super().__init__()
        self.history = history
        self.read = read
        self._values: dict[str, tuple[str, str]] = {}
        self._previews: dict[str, Text] = {}
        self._revisions_of: int | None = None  # the draft whose revisions are listed

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="Search drafts and alternatives…  (F4: the highlighted draft's revisions)", id="history-search"
        )
        with Horizontal():
            yield OptionList(id="history-list")
            yield Static("", id="history-preview")

    def on_mount(self) -> None:
        self._load(draft_rows, self.history)
        self.query_one("#history-search", Input).focus()

    @work(exclusive=True, group="history-rows")
    async def _load(self, rows: Callable[..., list[Row]], *args: Any) -> None:
        """List the rows `rows(*args)` reads (in a worker thread: the UI never waits on the disk)."""
        self._fill(await self.read(rows, *args))

    def _fill(self, rows: list[Row]) -> None:
        options = self.query_one("#history-list", OptionList)
        options.clear_options()
        self._values = {oid: value for oid, _, value, _ in rows}
        self._previews = {oid: preview for oid, _, _, preview in rows}
        options.add_options([Option(label, id=oid) for oid, label, _, _ in rows])
        if rows:
            options.highlighted = 0
        else:
            self.query_one("#history-preview", Static).update("")

    def on_input_changed(self, event: Input.Changed) -> None:
        self._revisions_of = None
        if event.value.strip():
            self._load(search_rows, self.history, event.value)
        else:
            self._load(draft_rows, self.history)

    def action_revisions(self) -> None:
        """F4: the highlighted draft's past and recovered texts; again: back to the drafts."""
        if self._revisions_of is not None:
            self._revisions_of = None
            self._load(draft_rows, self.history)
            return
        value = self._highlighted_value()
        if value is not None and value[0] == "draft":
            self._revisions_of = int(value[1])
            self._load(revision_rows, self.history, self._revisions_of)

    def action_move(self, step: int) -> None:
        options = self.query_one("#history-list", OptionList)
        options.action_cursor_down() if step > 0 else options.action_cursor_up()

    def _highlighted_value(self) -> tuple[str, str] | None:
        options = self.query_one("#history-list", OptionList)
        if options.highlighted is None:
            return None
        return self._values.get(options.get_option_at_index(options.highlighted).id or "")

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.query_one("#history-preview", Static).update(self._previews.get(event.option.id or "", Text()))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._values.get(event.option.id or ""))

    def on_input_submitted(self) -> None:
        if (value := self._highlighted_value()) is not None:
            self.dismiss(value)

    def action_close(self) -> None:
        self.dismiss(None)

    DEFAULT_CSS = """
    HistoryScreen { background: $background 60%; }
    #history-search { margin: 1 2 0 2; }
    HistoryScreen Horizontal { margin: 0 2 1 2; }
    #history-list { width: 1fr; }
    #history-preview { width: 1fr; border: round $panel-lighten-2; padding: 0 1; overflow-y: auto; }
    """
