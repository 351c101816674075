"""The copied-text guard's finding, as the engine reports it and the UI shows it: plain data, so the
app's process can receive it without loading the index's numpy code."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Copy:
    """`words` consecutive words of a training text (`source`: its opening) at `start:end` of the
    text checked (`arxiv_tui.runtime.copyguard.index`)."""

    words: int
    source: str
    start: int
    end: int
