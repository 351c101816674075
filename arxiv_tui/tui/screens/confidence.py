"""F2: the draft as the model sees it, each token coloured by its probability, on a screen of
its own (its keys are its own: Tab goes to the next unlikely word, not to accepting).

Enter on a word offers the model's likeliest replacements; the chosen one goes into the
editor (an edit of the drafting screen's own, which asks for no alternatives) and the draft is
scored again. Esc or F2 goes back to editing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from arxiv_tui.tui.widgets.confidence import ConfidenceView
from arxiv_tui.tui.widgets.keybar import KeyBar

if TYPE_CHECKING:
    from arxiv_tui.runtime.protocol import Backend, Scored


class Draft(Protocol):
    """What this screen asks of the drafting screen: its text, and a word replaced in it."""

    @property
    def text(self) -> str: ...

    def replace_text(self, start: int, end: int, text: str) -> None: ...


class ConfidenceScreen(Screen):
    BINDINGS = [Binding("escape,f2", "close", "Edit", id="close_confidence")]

    def __init__(self, engine: Backend, draft: Draft) -> None:
        super().__init__()
        self.engine = engine
        self.draft = draft  # the drafting screen: replacements go there
        self.view = ConfidenceView(id="confidence")
        self.summary = Static("", id="confidence-summary")

    def compose(self) -> ComposeResult:
        yield self.view
        yield self.summary
        yield KeyBar()

    def on_mount(self) -> None:
        self.view.focus()
        self.engine.score(self.draft.text)

    def show(self, message: Scored) -> None:
        """The engine's scores for a draft: shown if the draft is still that text."""
        if message.scores.text == self.draft.text:
            self.view.scores, self.view.copied = message.scores, tuple(message.copied)
            copied = "".join(
                f" │ copied from a training text ({c.words} words, underlined): “{c.source}…”"
                for c in message.copied[:1]
            )
            self.summary.update(
                f"confidence: {len(message.scores.tokens)} tokens in {message.seconds * 1000:.0f} ms{copied}"
            )

    def on_confidence_view_replace_requested(self, message: ConfidenceView.ReplaceRequested) -> None:
        from arxiv_tui.tui.screens.replacements import ReplacementScreen

        table = self.engine.token_table
        options = [(table[token].decode("utf-8", errors="replace"), prob) for token, prob in message.token.top]
        word = self.draft.text[message.start : message.end]

        def replace(choice: str | None) -> None:
            if choice is None:
                return
            leading = word[: len(word) - len(word.lstrip())]
            choice = leading + choice.lstrip()  # a word for a word: the space before it stays as it was
            self.draft.replace_text(message.start, message.end, choice)
            self.view.scores = None
            self.engine.score(self.draft.text)

        self.app.push_screen(ReplacementScreen(word, options), replace)

    def action_close(self) -> None:
        self.dismiss()

    DEFAULT_CSS = """
    #confidence-summary { height: 1; padding: 0 1; color: $text-muted; }
    """
