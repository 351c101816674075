"""F1: every key, the app's own first (accept, pick, cycle, word, sentence, undo, screens), then
the editor's. Keys are shown as remapped in the config file's [keymap]."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    """A table of keys; Esc, F1 or Ctrl+G closes it."""

    BINDINGS = [Binding("escape,f1,ctrl+g", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 84; max-width: 95%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        self.table = table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
        table.add_column(style="bold", justify="right", no_wrap=True)
        table.add_column()
        for title, rows in self.sections:
            table.add_row("", f"[b u]{title}[/]")
            for keys, description in rows:
                table.add_row(keys, description)
            table.add_row("", "")
        with VerticalScroll():
            yield Static(table, id="help-keys")


def key_rows(bindings: list[Binding], keymap: dict[str, str], key_display) -> list[tuple[str, str]]:
    """(keys, description) per action, in the order given; remapped keys replace the defaults,
    and bindings without a description (1‥9 after the first) join the first of their action."""
    rows: dict[str, tuple[list[str], str]] = {}
    for binding in bindings:
        keys = (keymap.get(binding.id, binding.key) if binding.id else binding.key).split(",")
        # "accept_index(3)" without a description joins "accept_index(0)"; "cycle(-1)" has its own row
        action = binding.action if binding.description else binding.action.split("(")[0]
        action = next((a for a in rows if a.split("(")[0] == action), action)
        shown, _description = rows.setdefault(action, ([], binding.description))
        shown.extend(key_display(Binding(key.strip(), binding.action)) for key in keys)
    return [(" ".join(dict.fromkeys(keys)), description) for keys, description in rows.values() if description]
