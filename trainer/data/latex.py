"""Abstracts from LaTeX-bearing sources, as plain text: BibTeX files (`bibtexparser`: string
macros, comments, both quoting styles) and papers' `.tex` files, one or a folder of them (the
abstract found as the app finds it to edit).

LaTeX becomes Unicode text through `pylatexenc`: accents in either brace style (`G\\"odel`,
`Erd{\\H{o}}s`, `Na\\"{\\i}ve`), dashes, escaped characters and text macros (`\\emph`). Citations,
references and labels are dropped with the space before them. Inline math is kept as written
(`$O(n^2)$`): it is how arXiv abstracts write it, so it is what the writer types and what the
model should learn to continue.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

from arxiv_tui.latex import LatexError, find_abstract

from .records import DataError, FileReader, Record, Source

_DROPPED = (
    "cite",
    "citep",
    "citet",
    "citealp",
    "citeauthor",
    "ref",
    "eqref",
    "autoref",
    "cref",
    "Cref",
    "label",
    "footnote",
)
_DROPPED_WITH_SPACE = re.compile(r"[\s~]*\\(?:" + "|".join(_DROPPED) + r")\*?(?:\[[^\]]*\])*\{[^{}]*\}")


def _need(package: str) -> NoReturn:
    raise DataError(f"reading LaTeX needs the `{package}` package: pip install 'arxiv-tui[train]'", exit_code=1)


@functools.cache
def _converter():
    try:
        from pylatexenc.latex2text import (
            LatexNodes2Text,
            MacroTextSpec,
            get_default_latex_context_db,
        )
    except ImportError:
        _need("pylatexenc")

    context = get_default_latex_context_db()
    context.add_context_category(
        "arxiv-tui", prepend=True, macros=[MacroTextSpec(name, simplify_repl="") for name in _DROPPED]
    )
    return LatexNodes2Text(latex_context=context, math_mode="verbatim")


def latex_to_text(value: str) -> str:
    """Plain text of a LaTeX fragment (see the module docstring), whitespace collapsed."""
    return " ".join(_converter().latex_to_text(_DROPPED_WITH_SPACE.sub("", value)).split())


def bib_records(path: Path, source: Source) -> Iterator[Record]:
    """The `abstract` fields of a BibTeX file's entries."""
    try:
        import bibtexparser
    except ImportError:
        _need("bibtexparser")
    with source.open(path, encoding="utf-8") as handle:
        library = bibtexparser.parse_string(handle.read())
    found = False
    for entry in library.entries:
        values = [str(field.value) for field in entry.fields if field.key.lower() == "abstract"]  # ABSTRACT too
        if values and values[0].strip():
            found = True
            yield Record(latex_to_text(values[0]))
    if not found:
        raise DataError(f"{path} has no entries with an abstract field")


def tex_records(files: list[Path], path: Path, source: Source) -> Iterator[Record]:
    """The abstract of each paper in `files` (the .tex file `path`, or those of the folder `path`:
    a paper's other .tex files, its sections, have none and are skipped)."""
    found = False
    for file in files:
        with source.open(file, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        try:
            start, end = find_abstract(text, file.name)
        except LatexError:
            continue
        found = True
        yield Record(latex_to_text(text[start:end]))
    if not found:
        raise DataError(f"{path} has no abstract (\\begin{{abstract}}...\\end{{abstract}} or \\abstract{{...}})")


READERS: dict[str, FileReader] = {".bib": bib_records, ".tex": lambda file, opened: tex_records([file], file, opened)}
