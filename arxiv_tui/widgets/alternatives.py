"""The numbered cards in which the alternatives stream."""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

_FINISH_LABELS = {"eos": "end of text", "length": "length", "stop": "sentence end", "cancelled": "cancelled"}


class AlternativeCard(Static):
    """One alternative: its number, its text as it grows, and how it ended."""

    text: reactive[str] = reactive("", layout=True)
    finish_reason: reactive[str | None] = reactive(None)
    cost: reactive[tuple[int, float] | None] = reactive(None)  # (tokens, ms) once finished
    highlighted: reactive[bool] = reactive(False)

    def __init__(self, index: int) -> None:
        super().__init__(classes="card")
        self.index = index
        self.border_title = str(index + 1)

    def render(self) -> Text:
        return Text(self.text.lstrip("\n") or "…", no_wrap=False)

    def watch_finish_reason(self) -> None:
        self._subtitle()

    def watch_cost(self) -> None:
        self._subtitle()

    def _subtitle(self) -> None:
        if self.finish_reason is None:
            self.border_subtitle = "writing…"
            return
        parts = [_FINISH_LABELS.get(self.finish_reason, "")]
        if self.cost is not None:
            tokens, ms = self.cost
            parts.append(f"{tokens} tok · {ms:.0f} ms")
        self.border_subtitle = " · ".join(part for part in parts if part)

    def watch_highlighted(self, highlighted: bool) -> None:
        self.set_class(highlighted, "-highlighted")


class AlternativesPanel(VerticalScroll, can_focus=False):
    """N cards; one is highlighted and mirrored as ghost text in the editor."""

    highlighted: reactive[int] = reactive(0)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._cards: list[AlternativeCard] = []  # removal is asynchronous: don't query for them

    def reset(self, count: int) -> None:
        """Show `count` empty cards, reusing the ones already mounted."""
        for card in self._cards[count:]:
            card.remove()
        del self._cards[count:]
        for card in self._cards:
            card.text, card.finish_reason, card.cost = "", None, None
        new = [AlternativeCard(i) for i in range(len(self._cards), count)]
        self._cards.extend(new)
        if new:
            self.mount_all(new)
        self.highlighted = 0
        self._mark()

    @property
    def cards(self) -> list[AlternativeCard]:
        return list(self._cards)

    def card(self, index: int) -> AlternativeCard | None:
        cards = self.cards
        return cards[index] if 0 <= index < len(cards) else None

    def texts(self) -> list[str]:
        return [card.text for card in self.cards]

    def cycle(self, step: int) -> None:
        if self.cards:
            self.highlighted = (self.highlighted + step) % len(self.cards)

    def watch_highlighted(self) -> None:
        self._mark()

    def _mark(self) -> None:
        for card in self.cards:
            card.highlighted = card.index == self.highlighted
        if (card := self.card(self.highlighted)) is not None:
            self.scroll_to_widget(card, animate=False)
