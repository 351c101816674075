"""The app on a paper's abstract (`arxiv-tui paper.tex`) and against arXiv's limits: suggestions
taken, Ctrl+S writes the abstract back with every other byte unchanged, quitting asks, a file
changed on disk is never written over unseen; the length counter and the LaTeX checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from arxiv_tui.latex import ARXIV_ABSTRACT_CHARS
from arxiv_tui.store.paper import open_paper
from arxiv_tui.tui.config import Config
from tests.helpers import RecordingApp, notices, saved_history, type_and_wait, wait_for

PAPER = Path(__file__).with_name("data") / "paper.tex"


@pytest.fixture
def paper(tmp_path) -> Path:
    return Path(shutil.copy(PAPER, tmp_path / "paper.tex"))


def paper_app(model, path: Path) -> RecordingApp:
    return RecordingApp(config=Config(model=str(model), debounce_s=0.05, precision="fp32"), paper=open_paper(path))


async def type_then_save_after_a_change_on_disk(pilot, paper: Path, typed: str, old: str, new: str) -> None:
    """Type `typed` at the end of the abstract; another program then replaces `old` with `new` in
    the paper; Ctrl+S."""
    await pilot.press("end", *typed)
    paper.write_text(paper.read_text().replace(old, new))
    await pilot.press("ctrl+s")


def outside_abstract(data: bytes) -> tuple[bytes, bytes]:
    """The bytes before the abstract's first words and after its end (the file's real abstract,
    not the commented-out one above it)."""
    start = data.index(b"\n\\begin{abstract}\n") + 18
    return data[:start], data[data.index(b"\n\\end{abstract}\n\n\\section") :]


async def test_suggestions_taken_and_saved_back_leave_the_rest_of_the_file_alone(trained_model, paper):
    original = paper.read_bytes()
    app = paper_app(trained_model, paper)
    async with app.run_test() as pilot:
        editor = app.drafting.editor
        assert editor.text.startswith("We study graph transformers") and app.drafting.status.file == "paper.tex"
        await type_and_wait(pilot, app, " We")
        await pilot.press("ctrl+right")  # a word of a suggestion
        await pilot.press("tab")  # and the rest of it
        assert app.drafting.status.unsaved
        text = editor.text
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not app.drafting.status.unsaved)
        assert open_paper(paper).abstract == text.strip()
        assert outside_abstract(paper.read_bytes()) == outside_abstract(original)
        assert saved_history(app).drafts(limit=1)[0].file == str(paper)  # the draft remembers its file


async def test_quitting_with_unsaved_changes_asks_first(trained_model, paper):
    app = paper_app(trained_model, paper)
    async with app.run_test() as pilot:
        await pilot.press("end", *" Unsaved.")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: "not saved to paper.tex" in str(app.screen.question))
        await pilot.press("escape")  # cancel: still running, nothing written
        assert app.is_running and "Unsaved." not in paper.read_text()
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: hasattr(app.screen, "question"))
        await pilot.press("s")
        await wait_for(pilot, lambda: not app.is_running)
    assert "Unsaved.\n\\end{abstract}" in paper.read_text()


async def test_a_paper_changed_on_disk_is_reloaded_or_kept_beside(trained_model, paper):
    app = paper_app(trained_model, paper)
    async with app.run_test() as pilot:
        await type_then_save_after_a_change_on_disk(pilot, paper, " Mine.", "We study", "They study")
        await wait_for(pilot, lambda: "changed on disk" in str(getattr(app.screen, "question", "")))
        assert "They study" in app.screen.question
        await pilot.press("r")
        await wait_for(pilot, lambda: app.drafting.editor.text.startswith("They study"))
        assert "Mine." not in paper.read_text()
        assert any("Mine." in d.text for d in saved_history(app).drafts())  # kept as a draft of its own
        await type_then_save_after_a_change_on_disk(pilot, paper, " Mine again.", "They study", "Others study")
        await wait_for(pilot, lambda: hasattr(app.screen, "question"))
        await pilot.press("k")
        mine = paper.with_name("paper.mine.tex")
        await wait_for(pilot, lambda: mine.exists())
        assert "Mine again." in mine.read_text() and "Others study" in paper.read_text()
        assert app.drafting.status.file == "paper.mine.tex"


async def test_the_counter_the_latex_checks_and_cards_past_the_limit(trained_model, tmp_path):
    path = tmp_path / "abstract.txt"
    path.write_text("x" * (ARXIV_ABSTRACT_CHARS - 3))
    app = paper_app(trained_model, path)
    async with app.run_test() as pilot:
        status = app.drafting.status
        assert status.count.chars == ARXIV_ABSTRACT_CHARS - 3 and not status.count.over
        await type_and_wait(pilot, app, " Wex")
        assert status.count.over and "1,921/1,920 chars" in status.render().plain
        assert all(f"past {ARXIV_ABSTRACT_CHARS:,} chars" in card.border_subtitle for card in app.drafting.panel.cards)
        await pilot.press(*" costs $O(n")
        await wait_for(pilot, lambda: status.problems == ("$ not closed (line 1)",))
        await pilot.press(*")$ and {")
        await wait_for(pilot, lambda: status.problems == ("{ not closed (line 1)",))
        await pilot.press("}")
        await wait_for(pilot, lambda: status.problems == ())


async def test_f4_copies_the_draft_to_the_clipboard(trained_model, paper):
    app = paper_app(trained_model, paper)
    async with app.run_test() as pilot:
        await pilot.press("f4")
        assert app.clipboard == app.drafting.editor.text and app.clipboard.startswith("We study graph")


async def test_a_change_outside_the_abstract_is_kept_and_said(trained_model, paper):
    app = paper_app(trained_model, paper)
    async with app.run_test() as pilot:
        await type_then_save_after_a_change_on_disk(
            pilot, paper, " Mine.", "\\section{Method}", "\\section{Our method}"
        )
        await wait_for(pilot, lambda: not app.drafting.status.unsaved)
        assert "changed on disk outside the abstract" in notices(app)
        text = paper.read_text()
        assert "\\section{Our method}" in text and "Mine.\n\\end{abstract}" in text
