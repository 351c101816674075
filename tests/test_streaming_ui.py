"""The UI's work per request stays the same however many tokens stream: no footer rebuild, no
layout and no whole-card repaint per token."""

from __future__ import annotations

import math
from pathlib import Path

from textual.app import App

import arxiv_tui.tui
from arxiv_tui.tui.app import ArxivApp
from arxiv_tui.tui.config import Config
from arxiv_tui.tui.widgets.alternatives import RECENT_REQUESTS, AlternativesPanel
from tests.helpers import wait_for


async def ui_work(model, tokens: int) -> dict:
    app = ArxivApp(config=Config(model=str(model), n=3, max_new_tokens=tokens, debounce_s=30, precision="fp32"))
    refreshes, batches = [], []
    rebuild_footer, on_progress = app.refresh_bindings, app.drafting.show_progress
    app.refresh_bindings = lambda: (refreshes.append(1), rebuild_footer())  # count the footer's rebuilds
    app.drafting.show_progress = lambda progress: (batches.append(progress), on_progress(progress))
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_for(pilot, lambda: app.drafting.engine is not None)
        await pilot.press("W", "e")
        before = len(refreshes)
        batches.clear()
        await pilot.press("ctrl+r")
        await wait_for(
            pilot,
            lambda: app.drafting.status.state == "idle" and all(c.finish_reason for c in app.drafting.panel.cards),
            60,
        )
        cards = app.drafting.panel.cards
        assert all(len(card.text) > 0 for card in cards)
        return {
            "binding_refreshes": len(refreshes) - before,
            "card_layouts": [card.repaints for card in cards],
            "card_rows": [card.rows for card in cards],
            "rows_repainted": [card.rows_repainted for card in cards],
            "batches": len(batches),
        }


async def test_ui_work_per_request_does_not_grow_with_tokens(fast_endless_model):
    short, long = await ui_work(fast_endless_model, 12), await ui_work(fast_endless_model, 230)
    # The footer is rebuilt when the usable keys change (cards cleared, each of the 3 cards' first
    # text: the first text comes at once, perhaps before every card has some), not per token.
    assert short["binding_refreshes"] <= 4 and long["binding_refreshes"] <= 4
    # Cards keep their expected height while streaming: at most two layouts a card for 12 tokens or
    # for 230 (a second when a card's text outgrows the height its tokens were expected to need).
    assert max(short["card_layouts"]) <= 2 and max(long["card_layouts"]) <= 2
    # Otherwise only changed rows repaint: at most the last two rows of a card per batch.
    for work in (short, long):
        assert max(work["rows_repainted"]) <= 2 * work["batches"]


async def test_regenerating_moves_nothing_and_redraws_only_the_rows_that_change(fast_endless_model, monkeypatch):
    """Greedy decoding (top_k 1): every request streams the same text. After the first (at whose
    end the cards take the height its text needed), a request lays nothing out and the editor
    redraws only the row its ghost text is on."""
    from arxiv_tui.tui.widgets.alternatives import AlternativeCard
    from arxiv_tui.tui.widgets.editor import DraftEditor

    layouts, editor_redraws = [], []
    card_refresh, editor_refresh = AlternativeCard.refresh, DraftEditor.refresh

    def count_card(card, *regions, layout=False, **kwargs):
        layouts.extend([card.index] if layout else [])
        return card_refresh(card, *regions, layout=layout, **kwargs)

    def count_editor(editor, *regions, **kwargs):
        editor_redraws.append(sum(region.height for region in regions) if regions else editor.size.height)
        return editor_refresh(editor, *regions, **kwargs)

    monkeypatch.setattr(AlternativeCard, "refresh", count_card)
    monkeypatch.setattr(DraftEditor, "refresh", count_editor)
    app = ArxivApp(
        config=Config(model=str(fast_endless_model), n=3, max_new_tokens=230, top_k=1, debounce_s=30, precision="fp32")
    )
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_for(pilot, lambda: app.drafting.engine is not None)
        await pilot.press("W", "e")
        texts = []
        for request in range(3):
            layouts.clear()
            editor_redraws.clear()
            await pilot.press("ctrl+r")
            await wait_for(
                pilot,
                lambda: app.drafting.status.state == "idle" and all(c.finish_reason for c in app.drafting.panel.cards),
                60,
            )
            await pilot.pause(0.1)  # the end of a request may fit the cards: let that layout happen
            texts.append(app.drafting.panel.texts())
            if request:
                assert layouts == [], f"request {request + 1} laid out cards {layouts}"
            assert editor_redraws and max(editor_redraws) == 1  # the ghost's row, never the editor
        assert texts[0] == texts[1] == texts[2] and min(card.rows for card in app.drafting.panel.cards) >= 2
        assert app.drafting.editor.suggestion and texts[0][0].startswith(app.drafting.editor.suggestion)


class PanelApp(App):
    CSS_PATH = Path(arxiv_tui.tui.__file__).with_name("app.tcss")

    def compose(self):
        yield AlternativesPanel(id="alternatives")


async def test_cards_keep_the_height_the_last_few_finished_requests_needed():
    app = PanelApp()
    async with app.run_test(size=(60, 60)) as pilot:
        panel = app.query_one(AlternativesPanel)

        async def request(text: str, finish_reason: str = "length") -> list[int]:
            """A request of 2 cards × 100 tokens that streams `text`; the cards' heights after it."""
            panel.reset(2, 100)
            await pilot.pause()
            for card in panel.cards:
                card.text, card.finish_reason = text, finish_reason
            panel.request_ended([len(text) // 4] * 2)
            await pilot.pause()
            return [card.size.height for card in panel.cards]  # rows of text (a card's size is inside its border)

        panel.reset(2, 100)
        await pilot.pause()
        expected = math.ceil(100 * 4.5 / panel.cards[0].size.width)  # 100 tokens of English, 4.5 characters each
        assert [card.size.height for card in panel.cards] == [expected] * 2  # however short the text
        assert await request("A short sentence.") == [1, 1]  # what it needed, once it ended
        tall = " ".join(["word"] * 40)  # 199 characters: 4 rows at 56
        assert await request(tall) == [4, 4]
        assert await request("Stopped early.", "cancelled") == [4, 4]  # a stopped request changes nothing
        for _ in range(RECENT_REQUESTS - 1):
            assert await request("A short sentence.") == [4, 4]  # the tall one is among the last five
        assert await request("A short sentence.") == [1, 1]  # and now it is not


async def test_text_longer_than_expected_lays_the_cards_out_a_few_times_not_once_a_row():
    from arxiv_tui.runtime.settings import Delta

    app = PanelApp()
    async with app.run_test(size=(60, 60)) as pilot:
        panel = app.query_one(AlternativesPanel)
        panel.reset(3, 10)  # 10 tokens of English are expected to take 45 characters: one row
        await pilot.pause()
        assert [card.size.height for card in panel.cards] == [1, 1, 1]
        grown = panel.cards[0]
        layouts_before = grown.repaints
        for _ in range(60):  # but one card's text runs to 300 characters, one word at a time
            panel.stream([Delta(0, " word")], {})
            await pilot.pause()
        assert grown.rows == 6  # 300 characters at 56 a row, wrapped between words
        # Each time it outgrew the rows kept, every card kept half as many again: 1 -> 3 -> 6.
        assert grown.repaints - layouts_before == 2
        assert [card.size.height for card in panel.cards] == [6, 6, 6]
