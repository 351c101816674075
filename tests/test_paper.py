"""Editing the abstract where it lives: finding it in a paper's LaTeX, writing it back with every
other byte unchanged, and the files that cannot be edited, each with its one line."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from arxiv_tui.latex import find_abstract
from arxiv_tui.store.paper import PaperChanged, PaperError, open_paper

PAPER = Path(__file__).with_name("data") / "paper.tex"


@pytest.fixture
def paper(tmp_path) -> Path:
    return Path(shutil.copy(PAPER, tmp_path / "paper.tex"))


def test_the_abstract_is_found_and_written_back_with_every_other_byte_unchanged(paper):
    original = paper.read_bytes()
    opened = open_paper(paper)
    assert opened.abstract.startswith("We study graph transformers") and opened.abstract.endswith("memory.")
    new = "We study graph transformers on very large graphs.\nA learned sparsity pattern keeps long-range structure."
    opened.write(new)
    written = paper.read_bytes()
    start = original.index(b"We study graph")
    end = original.index(b"memory.") + len(b"memory.")
    assert written == original[:start] + new.encode() + original[end:]
    assert open_paper(paper).abstract == new


def test_the_macro_form_with_nested_braces_and_a_commented_out_abstract():
    text = "% \\abstract{old}\n\\abstract{ We use {\\em nested} braces and \\{ escaped ones.\n}\n\\section{A}"
    start, end = find_abstract(text)
    assert text[start:end] == "We use {\\em nested} braces and \\{ escaped ones."


@pytest.mark.parametrize(
    ("content", "mentions"),
    [
        (b"\\section{Intro} no abstract here", "has no abstract"),
        (b"\\begin{abstract}A\\end{abstract}\n\\begin{abstract}B\\end{abstract}", "has 2 abstracts (lines 1 and 2)"),
        (b"\\begin{abstract}\nnever closed", "opened on line 1 is never closed"),
        ("\\begin{abstract}Caf\u00e9\\end{abstract}".encode("latin-1"), "is not UTF-8 text (bad byte at offset"),
    ],
)
def test_files_that_cannot_be_edited_say_why_in_one_line(tmp_path, content, mentions):
    path = tmp_path / "bad.tex"
    path.write_bytes(content)
    with pytest.raises(PaperError) as error:
        open_paper(path)
    assert mentions in str(error.value) and "\n" not in str(error.value)


def test_missing_unsupported_and_read_only_files(tmp_path, monkeypatch):
    for name, mentions in (("gone.tex", "does not exist"), ("paper.pdf", "edits .tex, .md and .txt files")):
        with pytest.raises(PaperError, match=mentions):
            open_paper(tmp_path / name)
    path = tmp_path / "locked.tex"
    path.write_text("\\begin{abstract}x\\end{abstract}")
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != path)  # root ignores chmod: ask as a user would
    with pytest.raises(PaperError, match="cannot be written"):
        open_paper(path)


def test_markdown_and_text_files_open_whole(tmp_path):
    path = tmp_path / "abstract.md"
    path.write_text("We propose *sparse* attention.\n")
    opened = open_paper(path)
    assert opened.abstract == "We propose *sparse* attention.\n"
    opened.write("Rewritten.\n")
    assert path.read_text() == "Rewritten.\n"


def test_a_change_outside_the_abstract_is_kept_and_a_change_to_it_is_not_overwritten(paper):
    opened = open_paper(paper)
    paper.write_text(paper.read_text().replace("\\section{Method}", "\\section{Our method}"))
    written = opened.write("Mine.")
    text = paper.read_text()
    assert "\\section{Our method}" in text and "\\begin{abstract}\nMine.\n\\end{abstract}" in text
    paper.write_text(text.replace("Mine.", "Theirs."))
    with pytest.raises(PaperChanged) as changed:
        written.write("Mine again.")
    assert changed.value.abstract == "Theirs." and "Theirs." in paper.read_text()
    beside = written.write_beside("Mine again.")
    assert beside.path.name == "paper.mine.tex" and "Mine again." in beside.path.read_text()
    assert "Theirs." in paper.read_text()
    assert written.write_beside("Once more.").path.name == "paper.mine-2.tex"


def test_the_file_keeps_its_mode(paper):
    paper.chmod(0o644)
    open_paper(paper).write("New.")
    assert paper.stat().st_mode & 0o777 == 0o644


def test_the_command_line_refuses_a_bad_paper_in_one_line(capsys, tmp_path):
    from tests.helpers import assert_one_line_error, run_cli

    two = tmp_path / "two.tex"
    two.write_text("\\begin{abstract}A\\end{abstract}\n\\abstract{B}\n")
    code, _, err = run_cli(capsys, str(two))
    assert_one_line_error(code, err, 2, "has 2 abstracts")
    code, _, err = run_cli(capsys, "--model", "m", str(tmp_path / "none.tex"))
    assert_one_line_error(code, err, 2, "none.tex does not exist")
