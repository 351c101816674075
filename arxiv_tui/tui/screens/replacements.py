"""The model's likeliest replacements for a word, to pick from."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


def _percent(prob: float) -> str:
    return f"{prob:.1%}" if prob >= 0.001 else "<0.1%"


class ReplacementScreen(ModalScreen[str | None]):
    """Returns the chosen replacement text, or None."""

    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, word: str, options: list[tuple[str, float]]) -> None:
        super().__init__()
        self.word = word
        self.options = options

    def compose(self) -> ComposeResult:
        yield Static(f"Replace {self.word.strip()!r} with:", id="replace-title")
        yield OptionList(
            *[
                Option(f"{text.strip() or repr(text)}  [dim]{_percent(prob)}[/]", id=str(i))
                for i, (text, prob) in enumerate(self.options)
            ],
            id="replace-options",
        )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.options[event.option_index][0])

    def action_close(self) -> None:
        self.dismiss(None)

    DEFAULT_CSS = """
    ReplacementScreen { align: center middle; background: $background 60%; }
    #replace-title { width: 50; padding: 0 1; background: $panel; }
    #replace-options { width: 50; height: auto; max-height: 12; border: round $accent; }
    """
