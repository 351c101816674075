"""Picking alternatives, and walking the tree of choices: accept, undo, jump to a node.

A mixin of `ArxivApp` (kept apart so app.py stays readable). Every request is a node of the
draft's tree; accepting records a choice that the next request follows; Ctrl+Z right after an
acceptance puts the text back as it was and shows that node's alternatives again, so a sibling
can be picked, which starts a second branch.
"""

from __future__ import annotations

import re

from arxiv_tui.tui.choices import Acceptance, AcceptanceStack, Cards


class AcceptingMixin:
    """Needs the app's editor, panel, history, status and request state (see ArxivApp)."""

    def _init_choices(self) -> None:
        self._accepted = AcceptanceStack()
        self._parent_choice: int | None = None  # the acceptance the next request follows
        self._node_parent: int | None = None  # the acceptance the shown request follows

    def _acceptable(self, index: int | None = None) -> bool:
        """Whether alternative `index` (default: the highlighted one) can be accepted now."""
        if self._keys_belong_elsewhere():
            return False
        index = self.panel.highlighted if index is None else index
        card = self.panel.card(index)
        return not self._stale and card is not None and bool(card.text)

    def _keys_belong_elsewhere(self) -> bool:
        """A dialog (its inputs) or the confidence view (its own keys) has the keyboard."""
        return len(self.screen_stack) > 1 or self.reviewing

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("accept", "undo") and self._keys_belong_elsewhere():
            return False  # Tab moves between a dialog's inputs, or to the next unlikely token
        if action == "accept_index":
            return self._acceptable(int(parameters[0]))
        if action in ("accept_word", "accept_sentence", "cycle"):
            return self._acceptable()
        return True

    def _cursor_offset(self) -> int:
        return self.editor.document.get_index_from_location(self.editor.cursor_location)

    def _insert(self, text: str, index: int, kind: str) -> None:
        """Put `text` in at the cursor and record the choice, remembering how to undo it."""
        start = self._cursor_offset()
        cards: Cards = tuple((card.text, card.finish_reason) for card in self.panel.cards)
        self.editor.insert(text)
        choice = self.keeper.add_choice(self._request_db_id, index, text, kind)
        self._accepted.push(Acceptance(self._request_db_id, self._node_parent, start, text, self.editor.text,
                                       cards, self.panel.highlighted))
        self._parent_choice = choice

    def action_accept(self) -> None:
        """Tab: accept the highlighted alternative, or ask for alternatives if none shows."""
        if self._acceptable():
            self.action_accept_index(self.panel.highlighted)
        else:
            self.start_generation()

    def action_accept_index(self, index: int) -> None:
        card = self.panel.card(index)
        self.cancel_generation()
        self._insert(card.text, index, "whole")  # the change then asks for the next ones

    def action_cycle(self, step: int) -> None:
        self.panel.cycle(step)
        self._show_suggestion()

    def _accept_part(self, part: str, kind: str) -> None:
        """Insert the start of the highlighted alternative and keep its rest, without a new request."""
        index = self.panel.highlighted
        self._own_edits += 1
        self._insert(part, index, kind)
        for card in self.panel.cards:
            card.text = card.text[len(part):] if card.text.startswith(part) else ""
        self._show_suggestion()

    def action_accept_word(self) -> None:
        text = self.panel.card(self.panel.highlighted).text
        self._accept_part(re.match(r"\s*\S*", text).group(), "word")

    def action_accept_sentence(self) -> None:
        from arxiv_tui.runtime.sentences import sentence_end

        text = self.panel.card(self.panel.highlighted).text
        end = sentence_end(text + " A") or len(text)  # a finished last sentence counts too
        self._accept_part(text[: min(end, len(text))], "sentence")

    def action_undo(self) -> None:
        """Ctrl+Z: take back the last acceptance if nothing changed since, else the editor's undo."""
        acceptance = self._accepted.undoable(self.editor.text)
        if acceptance is None:
            self.editor.action_undo()
            return
        self._accepted.pop()
        self._stop_requests()  # the acceptance's own follow-up request, if it started
        document = self.editor.document
        start = document.get_location_from_index(acceptance.start)
        end = document.get_location_from_index(acceptance.start + len(acceptance.text))
        self._own_edits += 1
        self.editor.delete(start, end)
        self.editor.move_cursor(start)
        self.show_node(acceptance.request_id, acceptance.parent_choice, acceptance.cards, acceptance.highlighted)

    def _stop_requests(self) -> None:
        """Cancel the running request and any about to start."""
        self.cancel_generation()
        self.workers.cancel_group(self, "debounce")

    def show_node(self, request_id: int, parent_choice: int | None, cards: Cards, highlighted: int = 0) -> None:
        """Show a tree node's alternatives, pickable, as the continuation of the text at the cursor."""
        self._request_id += 1  # whatever still streams belongs to another node
        self._request_db_id = request_id
        self._node_parent = self._parent_choice = parent_choice
        self.panel.reset(len(cards))
        for card, (text, reason) in zip(self.panel.cards, cards):
            card.text, card.finish_reason = text, reason
        self.panel.highlighted = min(highlighted, max(len(cards) - 1, 0))
        self._set_stale(False)
        self.status.state = "idle" if self.engine else self.status.state
        self._show_suggestion()

    async def jump_to_node(self, target: tuple[int, int] | None) -> None:
        """From the tree view: the draft as it was at request `target[0]`, alternative `target[1]`
        highlighted. A text no node holds (typed since) is first kept as a draft of its own."""
        if target is None:
            return
        request = await self.keeper.read(self.history.request, target[0])
        if request is None:
            return
        self._stop_requests()
        self._accepted.clear()
        current = self.editor.text
        if request["draft_text"] != current:
            if current.strip() and not await self.keeper.read(self.history.is_node_text, self.draft_id, current):
                self.keeper.keep_as_new(current)
                self.notify("The text you had is kept as a draft of its own (Ctrl+O)")
            self._own_edits += 1
            self.editor.load_text(request["draft_text"])
        self.editor.move_cursor(self.editor.document.get_location_from_index(request["cursor"]))
        cards = tuple((a["text"], a["finish_reason"]) for a in request["alternatives"])
        self.show_node(request["id"], request["parent_choice_id"], cards, target[1])
