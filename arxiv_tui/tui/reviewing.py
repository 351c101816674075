"""The confidence view's side of the app (F2): have the engine's process score the draft, show
it, and replace a word with one of the model's suggestions. A mixin of `ArxivApp`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arxiv_tui.tui.widgets.confidence import ConfidenceView

if TYPE_CHECKING:
    from arxiv_tui.runtime.engine_process import Scored


class ReviewingMixin:
    """Needs the app's editor, engine, status and `_own_edits` (see ArxivApp)."""

    reviewing = False  # the confidence view is up (a flag: bindings ask on every repaint)

    @property
    def confidence_view(self) -> ConfidenceView:
        return self.query_one(ConfidenceView)

    def action_confidence(self) -> None:
        """F2: show how likely each token is, or go back to editing."""
        if self.reviewing:
            self._close_confidence()
            return
        if self.engine is None:
            self.notify("The model is still loading", severity="warning")
            return
        self.action_dismiss_alternatives()
        self._stop_requests()  # no alternatives while reviewing: the editor is hidden
        view = self.confidence_view
        view.scores = None
        self.editor.display = False
        view.display = self.reviewing = True
        view.focus()
        self.engine.score(self.editor.text)

    def _close_confidence(self) -> None:
        self.confidence_view.display = self.reviewing = False
        self.editor.display = True
        self.editor.focus()

    def on_confidence_view_closed(self) -> None:  # by name: Textual's @on does not see mixins
        self._close_confidence()

    def show_scores(self, message: Scored) -> None:
        """The engine's scores for a draft: shown if the draft is still that text."""
        view = self.confidence_view
        if self.reviewing and message.scores.text == self.editor.text:
            view.scores = message.scores
            self.status.state = f"confidence: {len(message.scores.tokens)} tokens in {message.seconds * 1000:.0f} ms"

    def on_confidence_view_replace_requested(self, message: ConfidenceView.ReplaceRequested) -> None:
        from arxiv_tui.tui.screens.replacements import ReplacementScreen

        table = self.engine.token_table
        options = [(table[token].decode("utf-8", errors="replace"), prob) for token, prob in message.token.top]
        word = self.editor.text[message.start:message.end]

        def replace(choice: str | None) -> None:
            if choice is None:
                return
            leading = word[: len(word) - len(word.lstrip())]
            choice = leading + choice.lstrip()  # a word for a word: the space before it stays as it was
            document = self.editor.document
            self._own_edits += 1
            self.editor.replace(choice, document.get_location_from_index(message.start),
                                document.get_location_from_index(message.end))
            self.engine.score(self.editor.text)

        self.push_screen(ReplacementScreen(word, options), replace)
