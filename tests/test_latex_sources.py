"""LaTeX in training data, as plain text: real-world BibTeX and papers' .tex files (one, or a
folder of them), through `pylatexenc` and `bibtexparser`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from arxiv_tui.trainer.data.latex import latex_to_text
from arxiv_tui.trainer.data.records import DataError
from arxiv_tui.trainer.data.sources import read_records

BIB = r"""% Exported from a reference manager; this line is a comment.
@string{jmlr = "Journal of Machine Learning Research"}

@article{godel2020,
  title    = {On {G}\"odel's Theorems},
  journal  = jmlr,
  abstract = {We revisit G\"odel's incompleteness and Erd{\H{o}}s--R{\'e}nyi graphs. Na\"{\i}ve bounds
              \cite{smith2019} are loose; \emph{tight} ones follow---as in~\citep[p.~3]{lee}---with
              $O(n \log n)$ work at a 50\% lower cost.},
}

@inproceedings{quoted,
  abstract = "A quoted {abstract}, with {\'e}t{\'e} and \textit{italics}.",
  crossref = {godel2020},
}

@misc{noabstract, title = {Slides}}
"""


def test_real_world_bibtex_becomes_the_right_plain_text(tmp_path):
    path = tmp_path / "refs.bib"
    path.write_text(BIB)
    texts = [record.text for record in read_records(str(path))]
    assert texts == [
        (
            "We revisit Gödel's incompleteness and Erdős–Rényi graphs. Naïve bounds are loose; tight ones "
            "follow—as in—with $O(n \\log n)$ work at a 50% lower cost."
        ),
        "A quoted abstract, with été and italics.",
    ]


@pytest.mark.parametrize(
    ("latex", "text"),
    [
        (r"G\"odel, Erd{\H{o}}s--R{\'e}nyi, Na\"{\i}ve", "Gödel, Erdős–Rényi, Naïve"),
        (r"a result \cite{x}. See Section~\ref{s}.", "a result. See Section."),
        (r"\emph{small} models at 50\% \& more", "small models at 50% & more"),
        (r"inline $\alpha_i$ math stays", r"inline $\alpha_i$ math stays"),
    ],
)
def test_latex_fragments(latex, text):
    assert latex_to_text(latex) == text


def test_a_paper_and_a_folder_of_papers_give_their_abstracts(tmp_path):
    paper = Path(shutil.copy(Path(__file__).with_name("data") / "paper.tex", tmp_path / "paper.tex"))
    (record,) = read_records(str(paper))
    assert record.text == (
        "We study graph transformers on inputs with $n \\gg 10^4$ nodes, where full attention costs $O(n^2)$ memory."
    )
    folder = tmp_path / "papers"
    (folder / "second").mkdir(parents=True)
    shutil.copy(paper, folder / "one.tex")
    (folder / "second" / "main.tex").write_text("\\begin{abstract}Caf\\'e networks \\cite{a}.\\end{abstract}")
    (folder / "second" / "intro.tex").write_text("\\section{Introduction} no abstract in a section file")
    texts = sorted(record.text for record in read_records(str(folder)))
    assert texts == ["Café networks.", record.text]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"directory without \.tex files"):
        list(read_records(str(empty)))
