"""The copied-text guard: an index of a model's training texts flags the suggestions (and the
draft's spans) that repeat 8 or more consecutive words of one, with the word count and the
text; nothing is flagged on text that is not in the data, or without an index."""

from __future__ import annotations

import shutil

import pytest

from arxiv_tui.runtime.copyguard.index import INDEX_DIR, CopyIndex, build_index
from tests.helpers import build_model, make_app, run_cli, type_and_wait, wait_for

TRAINING = [
    "Graph neural networks learn node representations by passing messages along the edges of a graph.",
    "We prove that stochastic gradient descent converges for convex losses under mild assumptions.",
]


@pytest.fixture
def index(tmp_path) -> CopyIndex:
    build_index(TRAINING, tmp_path / "index")
    return CopyIndex(tmp_path / "index")


def test_a_copied_span_is_found_with_its_length_and_source(index):
    draft = "In this work, graph neural networks learn node representations by passing messages along"
    (copy,) = index.copies(draft + " the edges of a graph, quickly.", from_char=len(draft))
    assert copy.words == 15 and copy.source.startswith("Graph neural networks learn node representations")
    assert (draft + " the edges")[copy.start :].startswith("graph neural networks")


def test_case_and_punctuation_do_not_hide_a_copy_and_new_text_is_not_flagged(index):
    assert index.copies("WE PROVE THAT, stochastic gradient-descent converges for convex losses!")[0].words == 10
    assert index.copies("We prove that stochastic gradient methods diverge for nonconvex losses.") == []
    draft = "Graph neural networks learn node representations by passing messages"  # a copy, but all in the draft
    assert index.copies(draft + " and then we stop.", from_char=len(draft)) == []


def test_the_index_of_many_texts_stays_in_bounded_runs(tmp_path, monkeypatch):
    from arxiv_tui.runtime.copyguard import index as copyguard

    monkeypatch.setattr(copyguard, "RUN_GRAMS", 500)
    texts = [f"Text number {i} says " + " ".join(f"w{i}x{j}" for j in range(40)) for i in range(60)]
    figures = build_index(texts, tmp_path / "many")
    assert figures["runs"] > 3 and figures["grams"] == 60 * (44 - 7)
    found = CopyIndex(tmp_path / "many").copies("Now: " + texts[42] + " end")
    assert found[0].words == 44 and found[0].source.startswith("Text number 42 says")


MEMORISED = (
    "We introduce sparse message passing for graph transformers and show that it keeps "
    "long range structure while cutting memory from quadratic to linear in the number of nodes."
)


@pytest.fixture(scope="module")
def memorising_model(tmp_path_factory):
    """A tiny model trained on one abstract, in the app's prompt format, until it gives it back."""
    from arxiv_tui.runtime.settings import DEFAULT_TEMPLATE

    return build_model(tmp_path_factory.mktemp("memorising"), corpus=DEFAULT_TEMPLATE + MEMORISED, train_steps=200)


def guarded(model, tmp_path, training: list[str]):
    """A copy of `model` with the guard's index of `training` beside it."""
    copy = shutil.copytree(model, tmp_path / "guarded")
    build_index(training, copy / INDEX_DIR)
    return copy


async def test_the_app_flags_a_suggestion_the_model_copies_from_its_training_text(memorising_model, tmp_path):
    app = make_app(guarded(memorising_model, tmp_path, [TRAINING[0], MEMORISED]), n=2, top_k=1, max_new_tokens=40)
    async with app.run_test() as pilot:
        await type_and_wait(pilot, app, "We introduce sparse")
        card = app.drafting.panel.cards[0]
        assert card.text.startswith(" message passing for graph transformers")
        subtitle = card.border_subtitle
        assert "words copied from a training text: “We introduce sparse message passing for graph" in subtitle
        words = int(subtitle.split(" words copied")[0].split()[-1])
        shown, memorised = ("We introduce sparse" + card.text).split(), MEMORISED.split()
        whole = next(i for i, (a, b) in enumerate([*zip(shown, memorised, strict=False), ("", "-")]) if a != b)
        assert words == whole >= 12  # the draft's words and the card's, up to a last word cut short
        await pilot.press("tab")  # take it; the confidence view then marks the copy in the draft
        await pilot.press("f2")
        await wait_for(pilot, lambda: bool(getattr(getattr(app.screen, "view", None), "copied", ())))
        (copy,) = app.screen.view.copied
        assert copy.start == 0 and copy.words >= words
        assert "copied from a training text" in str(app.screen.summary.render())


async def test_text_that_is_not_in_the_data_is_not_flagged(memorising_model, tmp_path):
    app = make_app(guarded(memorising_model, tmp_path, TRAINING), n=2, top_k=1, max_new_tokens=40)
    async with app.run_test() as pilot:
        await type_and_wait(pilot, app, "We introduce sparse")
        assert app.drafting.panel.cards[0].text.startswith(" message passing")  # the copy is there...
        assert not any("copied" in card.border_subtitle for card in app.drafting.panel.cards)  # ...not in this data


def test_models_index_builds_one_for_a_model(capsys, memorising_model, abstracts, tmp_path):
    model = shutil.copytree(memorising_model, tmp_path / "to-index")
    code, out, err = run_cli(capsys, "models", "index", str(model), "--data", str(abstracts), "--categories", "cs.AI")
    assert code == 0, err
    assert "indexed 60 texts" in out and (model / INDEX_DIR / "meta.json").exists()
