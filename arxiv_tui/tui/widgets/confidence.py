"""The confidence view: the draft with each token coloured by how likely the model found it."""

from __future__ import annotations

import re

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

from arxiv_tui.runtime.confidence import DraftScores, TokenScore
from arxiv_tui.runtime.copyguard.record import Copy

LOW = 0.01  # below this a token counts as unlikely: Tab jumps between such tokens
# (upper bound of p, style): the rarer, the louder; likely tokens stay plain.
BUCKETS = ((0.001, "bold white on dark_red"), (LOW, "black on dark_orange"), (0.1, "black on gold3"))
COPIED_STYLE = "underline magenta"  # words found in the model's training texts (the guard)


def style_for(prob: float) -> str:
    return next((style for bound, style in BUCKETS if prob < bound), "")


def word_span(text: str, token: TokenScore) -> tuple[int, int]:
    """The token's span grown to the end of the word it starts (replacing " ze" of " zebra")."""
    end = token.end
    while end < len(text) and re.match(r"\w", text[end]):
        end += 1
    return token.start, end


class ConfidenceView(Static, can_focus=True):
    """Read-only: ←/→ move between tokens, Tab/Shift+Tab to the next unlikely one, Enter offers
    the model's likeliest replacements for the selected word (see `ConfidenceScreen`)."""

    BINDINGS = [
        Binding("right", "move(1)", "Next token", show=False),
        Binding("left", "move(-1)", "Previous token", show=False),
        Binding("tab", "jump(1)", "Next unlikely"),
        Binding("shift+tab", "jump(-1)", "Previous unlikely", show=False),
        Binding("enter", "replace", "Replacements"),
    ]

    scores: reactive[DraftScores | None] = reactive(None)
    selected: reactive[int] = reactive(0)
    copied: reactive[tuple[Copy, ...]] = reactive(())  # spans found in the training texts

    class ReplaceRequested(Message):
        """The user wants replacements for `token` (its word spans `start`..`end`)."""

        def __init__(self, token: TokenScore, start: int, end: int) -> None:
            super().__init__()
            self.token, self.start, self.end = token, start, end

    def render(self) -> Text:
        if self.scores is None:
            return Text("scoring the draft…", style="italic")
        text = Text(self.scores.text)
        for copy in self.copied:
            text.stylize(COPIED_STYLE, copy.start, copy.end)
        for index, token in enumerate(self.scores.tokens):
            style = style_for(token.prob)
            if index == self.selected:
                style = f"{style} underline reverse".strip()
            if style:
                text.stylize(style, token.start, token.end)
        return text

    def watch_scores(self, scores: DraftScores | None) -> None:
        if scores is not None:
            self.selected = min(self.selected, max(len(scores.tokens) - 1, 0))

    @property
    def tokens(self) -> list[TokenScore]:
        return self.scores.tokens if self.scores else []

    def action_move(self, step: int) -> None:
        if self.tokens:
            self.selected = max(0, min(len(self.tokens) - 1, self.selected + step))

    def action_jump(self, step: int) -> None:
        """Select the next (or previous) token the model found unlikely."""
        order = range(self.selected + 1, len(self.tokens)) if step > 0 else range(self.selected - 1, -1, -1)
        self.selected = next((i for i in order if self.tokens[i].prob < LOW), self.selected)

    def action_replace(self) -> None:
        if self.tokens and self.scores is not None:
            token = self.tokens[self.selected]
            self.post_message(self.ReplaceRequested(token, *word_span(self.scores.text, token)))
