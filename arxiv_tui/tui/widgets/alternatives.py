"""The numbered cards in which the alternatives stream.

A card redraws only the rows its new text changed. Word wrapping is stable under appending (only
the last row or two change as a token arrives), so a batch of tokens repaints a row or two per
card, not the whole card. A layout (which re-arranges and redraws the whole screen) is needed
only when a card's height changes, so the cards keep one height from request to request: for
the first request of a length, what its tokens are expected to take (max new tokens × the
characters per token seen so far, and half as much again each time a card outgrows it); after
that, what the tallest card of the last few requests of that length took, set when a request
ends (when the engine is idle, not while it streams).
Regenerating moves nothing on screen, and once the height has settled a request needs no
layout at all. The UI's work and the bytes sent to the terminal per batch stay small however
long the alternatives get.
"""

from __future__ import annotations

import math
import re
from collections import deque

from textual.containers import VerticalScroll
from textual.content import Content
from textual.geometry import Region
from textual.reactive import reactive
from textual.widget import Widget

from arxiv_tui.latex import ARXIV_ABSTRACT_CHARS, would_pass_limit
from arxiv_tui.runtime.copyguard.record import Copy
from arxiv_tui.runtime.sentences import sentence_end
from arxiv_tui.runtime.settings import Delta

RECENT_REQUESTS = 5  # the requests whose tallest card sets the height the cards keep
_FINISH_LABELS = {"eos": "end of text", "length": "length", "stop": "sentence end", "cancelled": "cancelled"}


class AlternativeCard(Widget):
    """One alternative: its number, its text as it grows, and how it ended."""

    text: reactive[str] = reactive("", repaint=False)  # `watch_text` repaints what changed
    finish_reason: reactive[str | None] = reactive(None)
    cost: reactive[tuple[int, float] | None] = reactive(None)  # (tokens, ms) once finished
    notes: reactive[tuple[str, ...]] = reactive(())  # warnings: past arXiv's limit, copied text
    highlighted: reactive[bool] = reactive(False)

    def __init__(self, index: int) -> None:
        super().__init__(classes="card")
        self.index = index
        self.border_title = str(index + 1)
        self._rows: list[str] = []  # the text as wrapped at the last repaint
        self._reserved = 0  # rows kept, however short the text
        self.repaints = 0  # whole-card repaints and layouts, for the tests of per-token work
        self.rows_repainted = 0

    def render(self) -> Content:
        return Content(self.text.lstrip("\n") or "…")

    def reserve(self, rows: int) -> None:
        """Keep at least `rows` rows of text, however short it is (0: fit the text)."""
        if rows != self._reserved:  # a changed style means a layout: only when it changes
            self._reserved = rows
            self.styles.min_height = rows + 2 if rows else None  # + the border

    @property
    def rows(self) -> int:
        """The rows its text takes."""
        return len(self._rows)

    @property
    def reserved(self) -> int:
        """The rows it keeps however short its text (0: it fits its text)."""
        return self._reserved

    def watch_text(self) -> None:
        width = self.content_size.width
        rows = self._wrapped(width)
        if not width or max(len(rows), self._reserved) != max(len(self._rows), self._reserved):
            self.repaints += 1
            self.refresh(layout=True)  # a row more or less: the cards below move
        else:
            changed = [y for y, (new, old) in enumerate(zip(rows, self._rows, strict=False)) if new != old]
            self.rows_repainted += len(changed)
            if changed:
                self.refresh(*(Region(0, y, width, 1) for y in changed))
        self._rows = rows

    def on_resize(self) -> None:
        self._rows = self._wrapped(self.content_size.width)

    def _wrapped(self, width: int) -> list[str]:
        """The text's rows at `width`, as drawn (greedy word wrap, so stable under appending)."""
        return [line.plain for line in self.render().wrap(width)] if width else []

    def watch_finish_reason(self) -> None:
        self._subtitle()

    def watch_cost(self) -> None:
        self._subtitle()

    def watch_notes(self, notes: tuple[str, ...]) -> None:
        self.set_class(bool(notes), "-flagged")
        self._subtitle()

    def _subtitle(self) -> None:
        if self.finish_reason is None:
            self.border_subtitle = "writing…"
            return
        parts = [*self.notes, _FINISH_LABELS.get(self.finish_reason, "")]
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
        self._chars_per_token = 4.5  # English under GPT-2's tokenizer; learnt from each request
        # (max new tokens, text width) -> the rows of the tallest card of the last few requests
        self._tallest: dict[tuple[int, int], deque[int]] = {}
        self._shape: tuple[int, int] | None = None  # the running request's key into it

    def reset(self, count: int, max_tokens: int = 0) -> None:
        """Show `count` empty cards, reusing the ones already mounted; each keeps the rows
        `max_tokens` tokens are expected to take (none for 0: then each fits its text)."""
        for card in self._cards[count:]:
            card.remove()
        del self._cards[count:]
        for card in self._cards:
            card.text, card.finish_reason, card.cost, card.notes = "", None, None, ()
        new = [AlternativeCard(i) for i in range(len(self._cards), count)]
        self._cards.extend(new)
        if new:
            self.mount_all(new)
        width = max(self.content_size.width - 4, 1)  # the cards' border and padding
        self._shape = (max_tokens, width) if max_tokens else None
        rows = 0
        if self._shape is not None:
            rows = self._kept_rows() or math.ceil(max_tokens * self._chars_per_token / width)
        for card in self._cards:
            card.reserve(rows)
        self.highlighted = 0
        self._mark()

    def request_ended(self, tokens: list[int]) -> None:
        """The request ended with `tokens` per card: learn its characters per token and, unless
        it was stopped, fit the cards to the tallest card of the last few requests like it."""
        chars = sum(len(card.text) for card in self._cards)
        if sum(tokens) and chars:
            self._chars_per_token = chars / sum(tokens)
        if self._shape is None or any(card.finish_reason == "cancelled" for card in self._cards):
            return  # a stopped request says nothing of how tall its texts get
        recent = self._tallest.setdefault(self._shape, deque(maxlen=RECENT_REQUESTS))
        recent.append(max((card.rows for card in self._cards), default=0))
        rows = self._kept_rows()
        for card in self._cards:
            card.reserve(rows)

    def _kept_rows(self) -> int:
        """The rows the cards keep for requests like the running one (0: none seen yet)."""
        return max(self._tallest.get(self._shape, ()), default=0) if self._shape is not None else 0

    def flag(self, draft: str, copied: dict[int, Copy]) -> None:
        """Say on each card whose text would take `draft` past arXiv's limit, or repeats a
        training text (`copied`, by card: the copied-text guard's findings)."""
        for card in self._cards:
            notes = [f"past {ARXIV_ABSTRACT_CHARS:,} chars"] if would_pass_limit(draft, card.text) else []
            if (copy := copied.get(card.index)) is not None:
                notes.append(f"{copy.words} words copied from a training text: “{copy.source}…”")
            card.notes = tuple(notes)

    @property
    def cards(self) -> list[AlternativeCard]:
        return list(self._cards)

    def stream(self, deltas: list[Delta], costs: dict[int, tuple[int, float]]) -> None:
        """A batch of deltas: one text change per card, however many tokens it holds; `costs`:
        (tokens, ms) of the alternatives that finished."""
        for index, (text, finish_reason) in merged(deltas).items():
            if (card := self.card(index)) is not None:
                card.text += text
                card.finish_reason = finish_reason
        for index, cost in costs.items():
            if (card := self.card(index)) is not None:
                card.cost = cost
        self._make_room()

    def _make_room(self) -> None:
        """A card whose text outgrew the rows kept for it: every card keeps half as many rows
        again from now on, so text that runs longer than expected lays the cards out a few times
        in a request, not once a row (the end of the request fits them to what they took)."""
        if self._shape is None or not self._cards:
            return
        tallest = max(card.rows for card in self._cards)
        if tallest > self._cards[0].reserved:
            for card in self._cards:
                card.reserve(tallest + (tallest + 1) // 2)

    def card(self, index: int) -> AlternativeCard | None:
        cards = self.cards
        return cards[index] if 0 <= index < len(cards) else None

    def texts(self) -> list[str]:
        return [card.text for card in self.cards]

    def _highlighted_text(self) -> str:
        card = self.card(self.highlighted)
        return card.text if card is not None else ""

    def next_word(self) -> str:
        """The highlighted alternative's next word, with the spaces before it."""
        word = re.match(r"\s*\S*", self._highlighted_text())
        assert word is not None  # the pattern matches any text, the empty one too
        return word.group()

    def next_sentence(self) -> str:
        """The highlighted alternative up to the end of its next sentence (a finished last
        sentence counts too; without an end, all of it)."""
        text = self._highlighted_text()
        end = sentence_end(text + " A") or len(text)
        return text[: min(end, len(text))]

    def consume(self, part: str) -> None:
        """`part` was accepted: each card keeps what follows it (a card that does not start with
        it has nothing left to offer)."""
        for card in self.cards:
            card.text = card.text[len(part) :] if card.text.startswith(part) else ""

    def cycle(self, step: int) -> None:
        if self.cards:
            self.highlighted = (self.highlighted + step) % len(self.cards)

    def watch_highlighted(self) -> None:
        self._mark()

    def _mark(self) -> None:
        for card in self.cards:
            card.highlighted = card.index == self.highlighted
        if (shown := self.card(self.highlighted)) is not None:
            self.scroll_to_widget(shown, animate=False)


def merged(deltas: list[Delta]) -> dict[int, tuple[str, str | None]]:
    """Each alternative's text and end in a batch of deltas: one change per card, however many
    tokens the batch holds."""
    texts: dict[int, tuple[str, str | None]] = {}
    for delta in deltas:
        text, _ = texts.get(delta.index, ("", None))
        texts[delta.index] = (text + delta.text, delta.finish_reason)
    return texts
