"""One alternative as it grows, and which of its text is shown: the rules every backend shares.

The local engine adds text token by token, a remote server chunk by chunk; either way a stop
string or (when asked) a sentence end cuts the text, and text that may still turn out to be part
of one is held back, so nothing shown is ever taken back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from arxiv_tui.runtime.sentences import sentence_end
from arxiv_tui.runtime.settings import FINISH_STOP, Delta, GenerationSettings
from arxiv_tui.runtime.stops import stop_at, undecided_tail


@dataclass
class Alternative:
    """One continuation as it grows."""

    index: int
    tokens: list[int] = field(default_factory=list)  # ids; a remote server's pieces count as -1 each
    text: str = ""
    emitted: int = 0  # characters of `text` already sent as deltas
    finish_reason: str | None = None


class StreamingRun(Protocol):
    """A request as it runs, local (`engine.Run`) or remote (`remote.run.RemoteRun`): iterating it
    yields each step's deltas; `alternatives` holds each one's whole state."""

    alternatives: list[Alternative]

    def __iter__(self) -> Iterator[list[Delta]]: ...


def extend(alt: Alternative, text: str, reason: str | None, settings: GenerationSettings) -> Delta | None:
    """Add `text` to `alt` (ending it with `reason` if set); return what becomes visible."""
    alt.text += text
    alt.finish_reason = alt.finish_reason or reason
    visible = len(alt.text)
    if settings.stop:
        cut = stop_at(alt.text, settings.stop, alt.emitted)
        if cut is not None:
            alt.text, alt.finish_reason, visible = alt.text[:cut], FINISH_STOP, cut
        elif alt.finish_reason is None:  # the tail may still become a stop string
            visible -= undecided_tail(alt.text, settings.stop)
    if settings.stop_at_sentence_end:
        end = sentence_end(alt.text)
        if end is not None:
            alt.text = alt.text[:end]
            alt.finish_reason = FINISH_STOP
        if alt.finish_reason is None:  # white space may turn out to follow a sentence end
            visible = min(visible, len(alt.text.rstrip()))
        visible = min(visible, len(alt.text))
    piece = alt.text[alt.emitted : visible]
    alt.emitted = max(alt.emitted, visible)
    if piece or alt.finish_reason:
        return Delta(alt.index, piece, alt.finish_reason)
    return None


def finish_all(alternatives: list[Alternative], reason: str) -> list[Delta]:
    """End every unfinished alternative with `reason`, keeping only what was shown."""
    deltas = []
    for alt in alternatives:
        if alt.finish_reason is None:
            alt.finish_reason = reason
            alt.text = alt.text[: alt.emitted]  # what the caller saw is what it keeps
            deltas.append(Delta(alt.index, "", reason))
    return deltas
