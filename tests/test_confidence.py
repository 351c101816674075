"""The confidence view: per-token probabilities, reuse of earlier work, the view and replacements."""

from __future__ import annotations

import pytest
import torch

from arxiv_tui.runtime.confidence import char_offsets
from tests.helpers import make_app, wait_for

ODD = "We propose a new zebra for graph learning. The code is public."


def word_probs(scores, text: str, word: str) -> float:
    """The lowest probability among the tokens of `word` (its first occurrence)."""
    start = text.index(word)
    return min(t.prob for t in scores.tokens if t.start < start + len(word) and t.end > start)


def test_scores_match_transformers_and_spans_cover_the_text(trained_model, engine_factory):
    from transformers import GPT2LMHeadModel

    engine = engine_factory(trained_model)
    wide = engine.score("We propose é≤ 中文 methods.")  # characters over several byte tokens
    assert "".join(wide.text[t.start : t.end] for t in wide.tokens) == wide.text
    text = "We propose a new method for graph learning."
    scores = engine.score(text)
    assert "".join(text[t.start : t.end] for t in scores.tokens) == text
    model = GPT2LMHeadModel.from_pretrained(trained_model).eval()
    ids = engine.encode(engine.template + text)
    with torch.no_grad():
        log_probs = torch.log_softmax(model(torch.tensor([ids])).logits[0], -1)
    reference = log_probs[:-1].gather(1, torch.tensor(ids[1:])[:, None])[:, 0].exp()
    ours = [t.prob for t in scores.tokens]
    assert ours == pytest.approx(reference[-len(ours) :].tolist(), abs=1e-4)
    assert all(len(t.top) == 8 and t.top[0][1] >= t.top[-1][1] for t in scores.tokens)


def test_an_odd_word_scores_below_its_neighbours(trained_model, engine_factory):
    scores = engine_factory(trained_model).score(ODD)
    odd = word_probs(scores, ODD, "zebra")
    assert odd < word_probs(scores, ODD, "new") and odd < word_probs(scores, ODD, "graph")
    assert odd < 0.01


def test_rescoring_an_extended_draft_reuses_the_earlier_work(trained_model, engine_factory):
    engine = engine_factory(trained_model)
    engine.forget_prompt()
    first = engine.score(ODD)
    longer = engine.score(ODD + " We evaluate it on five data sets.")
    before, after = (len(engine.encode(engine.template + s.text)) for s in (first, longer))
    assert first.computed == before  # from scratch (the first token only conditions)
    assert longer.computed <= after - before + 2  # only the appended tokens (and a merge at the seam)
    assert [t.prob for t in longer.tokens[: len(first.tokens) - 1]] == pytest.approx(
        [t.prob for t in first.tokens[:-1]], abs=1e-5
    )


def test_char_offsets_of_multibyte_text():
    assert char_offsets("aé≤") == [0, 1, 1, 2, 2, 2, 3]


async def test_confidence_view_marks_the_odd_word_and_replaces_it(trained_model):
    from arxiv_tui.tui.screens.confidence import ConfidenceScreen
    from arxiv_tui.tui.screens.replacements import ReplacementScreen
    from arxiv_tui.tui.widgets.confidence import LOW, style_for

    app = make_app(trained_model, n=2, max_new_tokens=6)
    async with app.run_test() as pilot:
        editor = app.drafting.editor
        await wait_for(pilot, lambda: app.drafting.engine is not None)
        editor.load_text(ODD)
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfidenceScreen))
        view = app.screen.view
        await wait_for(pilot, lambda: view.scores is not None)
        assert view.has_focus and "confidence" in str(app.screen.summary.render())
        rendered = view.render()
        zebra = ODD.index("zebra")
        odd_styles = {str(span.style) for span in rendered.spans if span.start <= zebra < span.end}
        assert style_for(word_probs(view.scores, ODD, "zebra")) in odd_styles
        likely = [t for t in view.tokens if not style_for(t.prob)]  # likely tokens stay plain
        assert likely and not [
            s for s in rendered.spans if s.start <= likely[0].start < s.end and " on " in str(s.style)
        ]
        await pilot.press("tab")  # the first unlikely token: Tab is the view's, not accepting
        selected = view.tokens[view.selected]
        assert selected.prob < LOW
        for _ in range(len(view.tokens)):
            if view.tokens[view.selected].start <= zebra < view.tokens[view.selected].end:
                break
            await pilot.press("tab")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ReplacementScreen))
        await pilot.press("enter")  # the likeliest replacement
        await wait_for(pilot, lambda: "zebra" not in editor.text)
        assert editor.text.startswith("We propose a new") and editor.text.endswith(
            "for graph learning. The code is public."
        )
        await wait_for(pilot, lambda: view.scores is not None and view.scores.text == editor.text)
        assert app.drafting.session.stale  # the replacement asked for no alternatives
        await pilot.press("escape")
        assert app.screen is app.drafting and editor.has_focus
