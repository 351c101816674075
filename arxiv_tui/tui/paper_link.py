"""The paper a draft's abstract lives in (`arxiv-tui paper.tex`): Ctrl+S writes the abstract back
into it, quitting with unsaved changes asks first, and a file changed on disk meanwhile is never
written over unseen (reload it, or keep both). File work runs off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.app import App

from arxiv_tui.store.paper import Paper, PaperChanged, PaperError, open_paper
from arxiv_tui.tui.screens.choice import ChoiceScreen
from arxiv_tui.tui.text import one_line


class PaperLink:
    """The open paper (None: the draft lives only in the history)."""

    def __init__(
        self,
        app: App[None],
        paper: Paper | None,
        on_change: Callable[[Paper | None], None],
        reload: Callable[[str], Awaitable[None]],
    ) -> None:
        self.app = app
        self.paper = paper
        self.on_change = on_change  # the status bar shows the file's name
        self.reload = reload  # the paper's abstract, changed on disk, replaces the draft's text

    def _set(self, paper: Paper | None) -> None:
        self.paper = paper
        self.on_change(paper)

    def unsaved(self, text: str) -> bool:
        return self.paper is not None and text != self.paper.abstract

    async def bind(self, file: str | None) -> None:
        """Follow the draft just opened: its paper, if it has one that can still be edited."""
        if file is None:
            self._set(None)
            return
        try:
            self._set(await asyncio.to_thread(open_paper, Path(file)))
        except PaperError as error:
            self._set(None)
            self.app.notify(f"This draft came from {file}, which can't be edited now: {error}", severity="warning")

    async def save(self, text: str) -> bool:
        """Write `text` into the paper as its abstract; True once it is there (or kept beside it)."""
        paper = self.paper
        if paper is None:
            return False
        try:
            written = await asyncio.to_thread(paper.write, text)
        except PaperChanged as changed:
            return await self._changed_on_disk(paper, text, changed.abstract)
        except PaperError as error:
            self.app.notify(
                f"Not saved: {error}. Your text is in the history; Save as (palette) writes it elsewhere.",
                severity="error",
                timeout=20,
            )
            return False
        self._set(written)
        if (written.before, written.after) != (paper.before, paper.after):
            self.app.notify(
                f"{paper.path.name} had changed on disk outside the abstract: those changes are kept, "
                "and your abstract went into that version"
            )
        self.app.notify(f"Abstract saved to {paper.path.name}")
        return True

    async def _changed_on_disk(self, paper: Paper, text: str, theirs: str | None) -> bool:
        now = f"its abstract now reads: “{one_line(theirs, 160)}”" if theirs is not None else "it has no abstract now"
        answer = await self.app.push_screen_wait(
            ChoiceScreen(
                f"{paper.path.name} changed on disk since arxiv-tui read it, and {now}",
                [
                    ("r", "reload it here (your text stays in the history, Ctrl+O)"),
                    (
                        "k",
                        f"keep both: yours goes to a copy, {paper.path.stem}.mine{paper.path.suffix}, "
                        "and is edited there",
                    ),
                ],
            )
        )
        if answer == "r" and theirs is not None:
            fresh = await asyncio.to_thread(open_paper, paper.path)
            self._set(fresh)
            await self.reload(fresh.abstract)
            return True
        if answer == "k":
            beside = await asyncio.to_thread(paper.write_beside, text)
            self._set(beside)
            self.app.notify(f"Yours is in {beside.path.name}; {paper.path.name} stays as it is on disk")
            return True
        return False

    async def may_quit(self, text: str) -> bool:
        """Whether to quit now: yes when nothing is unsaved, else as the writer answers."""
        if self.paper is None or not self.unsaved(text):
            return True
        name = self.paper.path.name
        answer = await self.app.push_screen_wait(
            ChoiceScreen(
                f"The abstract has changes not saved to {name}.",
                [
                    ("s", f"save to {name} and quit"),
                    ("q", "quit without saving it (the text stays in the history, Ctrl+O)"),
                ],
            )
        )
        if answer == "s":
            return await self.save(text)
        return answer == "q"
