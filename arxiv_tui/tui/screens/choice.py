"""A question with a few answers, each on a key: what to do before something could be lost."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class ChoiceScreen(ModalScreen[str | None]):
    """Shows `question` and `answers` ((key, what it does) pairs); returns the key pressed, or
    None for Esc."""

    def __init__(self, question: str, answers: list[tuple[str, str]]) -> None:
        super().__init__()
        self.question, self.answers = question, answers
        for key, _ in answers:
            self._bindings.bind(key, f"answer({key!r})", show=False)
        self._bindings.bind("escape", "answer(None)", show=False)

    def compose(self) -> ComposeResult:
        with Vertical(id="choice"):
            yield Static(self.question, id="choice-question", markup=False)
            for key, label in self.answers:
                yield Static(f"[b]{key}[/b]  {label}")
            yield Static("[b]Esc[/b]  cancel")

    def action_answer(self, key: str | None) -> None:
        self.dismiss(key)

    DEFAULT_CSS = """
    ChoiceScreen { align: center middle; background: $background 60%; }
    #choice { width: 84; height: auto; padding: 1 2; border: round $warning; background: $panel; }
    #choice-question { margin: 0 0 1 0; }
    """
