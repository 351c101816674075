"""arXiv's limits on an abstract, checked as the writer types: its length (1,920 characters) and
the LaTeX arXiv rejects in the abstract field (an unclosed `$` or an unbalanced brace)."""

from __future__ import annotations

from dataclasses import dataclass

from arxiv_tui.store.paper import line_of, unescaped

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
