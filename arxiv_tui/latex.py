"""The LaTeX of an abstract: a scanner of the source (escapes and comments skipped), the finder of
the abstract in a paper, and arXiv's checks on the abstract field (its length, and the unclosed `$`
or unbalanced brace arXiv rejects). Plain text in, plain data out: the store (papers), the UI (the
status bar, the cards) and the trainer (abstracts of `.tex` files) all use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from arxiv_tui.errors import ReportedError

_BEGIN = re.compile(r"\\begin\s*\{abstract\}")
_END = re.compile(r"\\end\s*\{abstract\}")
_MACRO = re.compile(r"\\abstract\s*\{")
_COMMENT = re.compile(r"(?<!\\)%.*")


class LatexError(ReportedError):
    """A LaTeX source whose abstract cannot be found: one line that says why."""


def line_of(text: str, index: int) -> int:
    """The 1-based line of `text` that offset `index` falls on (for messages)."""
    return text.count("\n", 0, index) + 1


def unescaped(text: str, start: int = 0, comments: bool = False) -> Iterator[tuple[int, str]]:
    """(offset, character) of the LaTeX source `text` from `start`, leaving out characters escaped
    by a backslash (`\\{`, `\\$`) and, with `comments`, everything after a `%` on its line."""
    index = start
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if comments and char == "%":
            end = text.find("\n", index)
            index = len(text) if end < 0 else end
            continue
        yield index, char
        index += 1


def _balanced_end(text: str, start: int) -> int | None:
    """The offset of the brace closing the group opened just before `start`."""
    depth = 0
    for index, char in unescaped(text, start):
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return index
            depth -= 1
    return None


def find_abstract(text: str, name: str = "the file") -> tuple[int, int]:
    """(start, end) of the abstract's text in a LaTeX source, without its surrounding whitespace."""
    masked = _COMMENT.sub(lambda m: " " * len(m.group()), text)  # same offsets, comments blank
    spans: list[tuple[int, int]] = []
    for begin in _BEGIN.finditer(masked):
        closing = _END.search(masked, begin.end())
        if closing is None:
            raise LatexError(
                f"{name}: the abstract opened on line {line_of(text, begin.start())} is never closed "
                "(\\end{abstract})"
            )
        spans.append((begin.end(), closing.start()))
    for macro in _MACRO.finditer(masked):
        close = _balanced_end(masked, macro.end())
        if close is None:
            raise LatexError(f"{name}: the \\abstract{{ on line {line_of(text, macro.start())} is never closed")
        spans.append((macro.end(), close))
    if not spans:
        raise LatexError(f"{name} has no abstract (\\begin{{abstract}}...\\end{{abstract}} or \\abstract{{...}})")
    if len(spans) > 1:
        lines = " and ".join(str(line_of(text, start)) for start, _ in sorted(spans)[:2])
        raise LatexError(
            f"{name} has {len(spans)} abstracts (lines {lines}): keep one, or comment the others out with %"
        )
    start, end = spans[0]
    body = text[start:end]
    return start + len(body) - len(body.lstrip()), end - (len(body) - len(body.rstrip()))


ARXIV_ABSTRACT_CHARS = 1920


@dataclass(frozen=True)
class Count:
    chars: int
    words: int

    @property
    def over(self) -> bool:
        return self.chars > ARXIV_ABSTRACT_CHARS

    def describe(self) -> str:
        return f"{self.chars:,}/{ARXIV_ABSTRACT_CHARS:,} chars · {self.words:,} words"


def count(text: str) -> Count:
    """Characters as arXiv counts the field (without surrounding whitespace), and words."""
    return Count(len(text.strip()), len(text.split()))


def would_pass_limit(text: str, continuation: str) -> bool:
    """Whether appending `continuation` takes `text` past arXiv's limit."""
    return count(text + continuation).over


def latex_problems(text: str) -> list[str]:
    """What arXiv would reject: `$` left open, a `{` never closed or a `}` never opened (escaped
    `\\$`, `\\{`, `\\}` and everything after a `%` on its line do not count)."""
    problems: list[str] = []
    opened: list[int] = []  # offsets of the open braces
    math_at: int | None = None
    second_dollar = -1  # the offset of the second `$` of a `$$`
    for index, char in unescaped(text, comments=True):
        if char == "$" and index != second_dollar:
            if text.startswith("$$", index):
                second_dollar = index + 1
            math_at = None if math_at is not None else index
        elif char == "{":
            opened.append(index)
        elif char == "}":
            if opened:
                opened.pop()
            elif not problems:
                problems.append(f"a }} with no {{ (line {line_of(text, index)})")
    if math_at is not None:
        problems.append(f"$ not closed (line {line_of(text, math_at)})")
    if opened:
        problems.append(f"{{ not closed (line {line_of(text, opened[0])})")
    return problems
