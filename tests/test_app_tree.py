"""The tree of choices in the app: accept, undo, pick a sibling, see both branches, jump back."""

from __future__ import annotations

from textual.widgets import Tree

from arxiv_tui.tui.app import ArxivApp
from arxiv_tui.tui.config import Config
from tests.helpers import make_app, saved_history, type_and_wait, wait_for, written


def accepted(branch) -> list[str]:
    return [c.accepted for c in branch.accepted]


async def test_accept_undo_pick_a_sibling_and_the_tree_has_both_branches(trained_model):
    app = make_app(trained_model, n=3, max_new_tokens=12)
    async with app.run_test() as pilot:
        await type_and_wait(pilot, app, "We propose")
        texts, node_ref = app.drafting.panel.texts(), app.drafting.session.request
        node = written(node_ref)
        await pilot.press("1")
        assert app.drafting.editor.text == "We propose" + texts[0]
        await pilot.press("ctrl+z")  # back to the text before, the same alternatives pickable
        assert app.drafting.editor.text == "We propose" and app.drafting.editor.cursor_location == (0, 10)
        assert (
            app.drafting.panel.texts() == texts
            and not app.drafting.session.stale
            and app.drafting.panel.highlighted == 0
        )
        await pilot.press("2")
        assert app.drafting.editor.text == "We propose" + texts[1]
        await wait_for(
            pilot,
            lambda: (
                app.drafting.session.request is not node_ref
                and app.drafting.status.state == "idle"
                and not app.drafting.session.stale
                and all(app.drafting.panel.texts())
            ),
        )
        follower = written(app.drafting.session.request)

        # Requests that finished while "We propose" was typed are roots too; ours is the last.
        root = saved_history(app).tree(app.keeper.draft_id)[-1]
        assert root.request.id == node and root.request.draft_text == "We propose"
        assert accepted(root.branches[0]) == [texts[0]]
        assert accepted(root.branches[1]) == [texts[1]]
        assert follower in [child.request.id for child in root.branches[1].children]

        await pilot.press("ctrl+t")  # the tree view: both branches, then jump to the root request
        tree = app.screen.query_one(Tree)
        await wait_for(pilot, lambda: tree.root.children)
        (root_node,) = [n for n in tree.root.children if n.data == (node, 0)]
        shown = [str(n.label) for n in root_node.children]
        assert "✓" in shown[0] and "✓" in shown[1] and "✓" not in shown[2]
        tree.move_cursor(root_node)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is app.screen_stack[0])
        assert (
            app.drafting.editor.text == "We propose"
            and app.drafting.panel.texts() == texts
            and app.drafting.session.request == node
        )
        await pilot.press("3")  # a third branch from the same node
        assert app.drafting.editor.text == "We propose" + texts[2]


async def test_jumping_keeps_text_that_no_node_holds(trained_model):
    app = ArxivApp(config=Config(model=str(trained_model), n=2, max_new_tokens=6, debounce_s=30, precision="fp32"))
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.drafting.engine is not None)
        await pilot.press(*"We", "tab")  # no pause long enough: only Tab asks
        await wait_for(pilot, lambda: app.drafting.status.state == "idle" and all(app.drafting.panel.texts()))
        node, draft = written(app.drafting.session.request), app.keeper.draft_id
        app.drafting.editor.insert(" and more words")  # unsaved in any node
        await pilot.pause()
        typed = app.drafting.editor.text
        await app.drafting.jump_to_node((node, 1))
        await pilot.pause()
        assert (
            app.drafting.editor.text == "We" and app.drafting.panel.highlighted == 1 and not app.drafting.session.stale
        )
        kept = [d for d in saved_history(app).drafts() if d.id != draft]
        assert [d.text for d in kept] == [typed]


async def test_undo_after_typing_is_the_editors_own(trained_model):
    app = ArxivApp(config=Config(model=str(trained_model), n=2, max_new_tokens=6, debounce_s=30, precision="fp32"))
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.drafting.engine is not None)
        await pilot.press(*"We", "tab")
        await wait_for(pilot, lambda: app.drafting.status.state == "idle" and all(app.drafting.panel.texts()))
        await pilot.press("1", "x")
        text = app.drafting.editor.text
        await pilot.press("ctrl+z")  # undoes the typing, not the acceptance
        assert app.drafting.editor.text == text[:-1]


async def test_cards_show_tokens_and_time_at_sentence_end(trained_model):
    from arxiv_tui.runtime.sentences import sentence_end

    app = make_app(trained_model, n=2, max_new_tokens=60, stop_at_sentence=True, temperature=0.0)
    async with app.run_test() as pilot:
        await type_and_wait(pilot, app, "We propose")
        await wait_for(pilot, lambda: all(card.cost for card in app.drafting.panel.cards))
        for card in app.drafting.panel.cards:
            assert card.finish_reason == "stop"
            assert sentence_end(card.text + " A") == len(card.text)  # ends exactly at a sentence end
            tokens, ms = card.cost
            assert tokens > 0 and ms > 0
            assert f"{tokens} tok · {ms:.0f} ms" in str(card.border_subtitle)
