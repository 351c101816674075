"""Stop strings: where a continuation ends, and how much of its tail to hold back meanwhile.

A stop string can arrive split over tokens ("\\n" then "\\n"), so text that could still become
one is not shown until the next token decides; what is shown never has to be taken back.
"""

from __future__ import annotations

from collections.abc import Sequence


def stop_at(text: str, stops: Sequence[str], since: int = 0) -> int | None:
    """Where the first stop string in `text` begins (None if none), looking only at matches that
    end after `since` (what was checked before cannot hold one)."""
    found = [at for stop in stops if stop and (at := text.find(stop, max(0, since - len(stop) + 1))) != -1]
    return min(found) if found else None


def undecided_tail(text: str, stops: Sequence[str]) -> int:
    """How many characters at the end of `text` could be the start of a stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if stop.startswith(text[len(text) - size :]):
                longest = size
                break
    return longest
