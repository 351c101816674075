"""Where a sentence ends, for the "stop at sentence end" rule.

A sentence ends at `.`, `!` or `?` (and any closing quotes or brackets) followed by white
space and then something that can start a sentence, or by a line break. A period after an
abbreviation (e.g., i.e., et al., Fig., Eq.) or inside a number (3.5) does not end one. Since
GPT-2 tokens carry their leading space (" We"), the end is confirmed when the next word's
first character arrives; callers hold back trailing white space until then.
"""

from __future__ import annotations

import re

_END = re.compile(r"[.!?][\"'”’)\]]*(?=[ \t]*\n|(\s+)(\S))")
_WORD_BEFORE = re.compile(r"(\S+)$")
_ABBREVIATIONS = frozenset("al approx cf dr e.g i.e resp vs viz mr mrs ms prof st jr ed eds".split())
# These end a sentence like any word ("he said no. Then") unless a number follows ("No. 5").
_BEFORE_NUMBERS = frozenset("ch col eq eqs fig figs no nos pp ref refs sec secs sect tab vol".split())


def _is_abbreviation(word: str, following: str) -> bool:
    """True for a word whose final period does not end a sentence, given the next character."""
    word = word.lstrip("([\"'“‘").lower()
    if not word or word[-1].isdigit():
        return False  # "in 2019." or "Fig. 3." can end a sentence
    if word in _ABBREVIATIONS:
        return True
    if word in _BEFORE_NUMBERS:
        return following.isdigit() or following == "("
    # Initials and dotted abbreviations: "J." in "J. Smith", "U.S" in "the U.S. market".
    return (len(word) == 1 and word.isalpha()) or ("." in word and word.replace(".", "").isalpha())


def sentence_end(text: str, start: int = 0) -> int | None:
    """Index just past the first sentence end at or after `start`, or None if none is confirmed."""
    for match in _END.finditer(text, start):
        following = match.group(2) or "\n"
        if following.islower():
            continue  # "… the e.g. case", "… 3. and" – the sentence goes on
        if text[match.start()] == ".":
            word = _WORD_BEFORE.search(text, 0, match.start())
            if word and _is_abbreviation(word.group(1), following):
                continue
        return match.end()
    return None
