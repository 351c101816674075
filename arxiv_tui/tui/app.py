"""The app: the drafting screen (`screens/draft.py`) and what surrounds it, the settings, the
history (its dialogs and its writer's notices), help and quitting.

The model runs in a child process started by the drafting screen: this process never imports
torch or transformers, and the first screen appears at once. The history is opened before the
event loop starts, and written on a thread of its own (`arxiv_tui.store.keeper`).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from arxiv_tui.store.history import History
from arxiv_tui.store.keeper import (
    DraftConflict,
    DraftKeeper,
    HistoryDamaged,
    WriteFailed,
    WritesFailing,
    WritesResumed,
)
from arxiv_tui.store.paper import Paper
from arxiv_tui.store.records import Draft
from arxiv_tui.tui import terminal_keys
from arxiv_tui.tui.config import Config, load_config, save_config
from arxiv_tui.tui.keys import APP_KEYS, DRAFTING_KEYS
from arxiv_tui.tui.paper_link import PaperLink
from arxiv_tui.tui.screens.draft import DraftScreen
from arxiv_tui.tui.widgets.editor import DraftEditor


class HistoryEvent(Message):
    """An event of the history's writer (see `arxiv_tui.store.keeper`), on the UI's queue."""

    def __init__(self, event: object) -> None:
        super().__init__()
        self.event = event


class ArxivApp(App):
    """arxiv-tui."""

    CSS_PATH = "app.tcss"
    TITLE = "arxiv-tui"
    BINDINGS = APP_KEYS  # type: ignore[assignment]  # Binding objects only: a narrower list

    def __init__(
        self,
        model: str | None = None,
        config: Config | None = None,
        history: History | None = None,
        paper: Paper | None = None,
        api_base: str | None = None,
        api_model: str | None = None,
    ) -> None:
        super().__init__()
        terminal_keys.install()
        loaded, self._config_warnings = (config, []) if config else load_config()
        self.config = loaded
        if model is not None:  # a model named on the command line is the local one, not a server
            self.config = replace(self.config, model=model, api_base="")
        if api_base is not None:
            self.config = replace(self.config, api_base=api_base, api_model=api_model or "")
        # Opened here, before the event loop runs: the file, or memory if the file can't be used.
        self.keeper = DraftKeeper(history, on_event=lambda event: self.post_message(HistoryEvent(event)))
        self.history = self.keeper.history
        self.rescued_to: Path | None = None  # where a draft the history could not take was kept
        self.drafting = DraftScreen(self.config, self.keeper)
        self.papers = PaperLink(self, paper, self._show_paper, self.reload_from_paper)  # `arxiv-tui paper.tex`

    def get_default_screen(self) -> Screen:
        return self.drafting

    async def on_mount(self) -> None:
        self.set_keymap(self.config.keymap)
        for warning in self._config_warnings:
            self.notify(warning, severity="warning")
        if self.keeper.problem:
            self.notify(
                f"Your history can't be saved ({self.keeper.problem}). Drafts are kept in memory "
                "while the app runs; Ctrl+S saves this one to a file.",
                severity="error",
                timeout=30,
            )
        if self.history.notice:
            self.notify(self.history.notice, severity="error", timeout=15)
        if (paper := self.papers.paper) is not None:  # a new draft, from the paper's abstract
            draft_id = await self.keeper.start_new(paper.abstract, file=str(paper.path))
            await self.drafting.open_draft(Draft(draft_id, 0.0, paper.abstract, file=str(paper.path)))
            self._show_paper(paper)
        else:
            draft = await self.keeper.open_first()
            await self.drafting.open_draft(draft)
            await self.papers.bind(draft.file)
        self.drafting.load_model()  # after the draft is in: the engine's process prefills it while loading
        self.keeper.check_file()

    def on_unmount(self) -> None:
        """However the app ends: the draft is saved (or rescued to a file) and the engine's
        process stopped."""
        self.drafting.stop_autosave()
        self.drafting.stop_engine()
        self.rescued_to = self.keeper.close(self.drafting.text)

    # The history's writer ----------------------------------------------------------------------
    def on_history_event(self, message: HistoryEvent) -> None:
        match message.event:
            case WritesFailing(error=error):
                self.notify(
                    f"The history can't be written ({error}). Your text is kept in memory and "
                    "saved as soon as the disk takes it; Ctrl+S saves it to a file.",
                    severity="error",
                    timeout=30,
                )
            case WritesResumed():
                self.clear_notifications()  # the "can't be written" notice no longer holds
                self.notify("The history is being saved again; nothing was lost.", timeout=10)
            case HistoryDamaged(detail=detail):
                self.notify(
                    f"The history file {self.history.path} is damaged ({detail}). What can be read still "
                    "shows and new text is still saved; keep a copy of the file.",
                    severity="error",
                    timeout=30,
                )
            case WriteFailed(error=error):
                self.notify(f"A history write failed: {error}", severity="error", timeout=20)
            case DraftConflict(draft_id=draft_id) if draft_id == self.keeper.draft_id:
                self._fork_draft(draft_id)

    @work(group="history")
    async def _fork_draft(self, draft_id: int) -> None:
        """Another writer changed this draft: its text stays, ours goes on as a new draft."""
        new_id = await self.keeper.start_new(self.drafting.text)
        self.notify(
            f"Draft {draft_id} was changed in another window: its text stays as it is, yours was "
            f"kept beside it (a recovered revision) and goes on here as draft {new_id}.",
            severity="warning",
            timeout=20,
        )

    # Drafts -------------------------------------------------------------------------------------
    def action_history(self) -> None:
        from arxiv_tui.tui.screens.history import HistoryScreen

        self.drafting.save_draft()
        self.push_screen(HistoryScreen(self.history, self.keeper.read), self.open_from_history)

    async def open_from_history(self, choice: tuple[str, str] | None) -> None:
        """What the history screen returned: a draft to open, a revision to open as a new draft,
        or an alternative's text to insert."""
        if choice is None:
            return
        kind, value = choice
        if kind == "text":
            self.drafting.insert_text(value)
        elif self._can_switch_drafts():
            self.drafting.save_draft()
            if kind == "revision":
                revision = await self.keeper.read(self.history.revision, int(value))
                await self._open_new_draft(revision.text)
                self.notify(f"Revision {revision.revision} of draft {revision.draft_id} opened as a new draft")
            elif (draft := await self.keeper.switch_to(int(value))) is not None:
                await self.drafting.open_draft(draft)
                await self.papers.bind(draft.file)
            else:
                copy = await self.keeper.read(self.history.draft, int(value))
                await self._open_new_draft(copy.text)
                self.notify(f"Draft {value} is open in another window: its text opened here as a new draft")

    def _can_switch_drafts(self) -> bool:
        if self.keeper.failing:
            self.notify(
                "The history can't be written now, so this draft stays open (its text is kept; "
                "Ctrl+S saves it to a file).",
                severity="warning",
            )
        return not self.keeper.failing

    async def action_new_draft(self) -> None:
        if self._can_switch_drafts():
            self.drafting.save_draft()
            await self._open_new_draft("")

    async def _open_new_draft(self, text: str) -> None:
        draft_id = await self.keeper.start_new(text)
        await self.drafting.open_draft(Draft(draft_id, 0.0, text))
        await self.papers.bind(None)

    # The paper --------------------------------------------------------------------------------
    def _show_paper(self, paper: Paper | None) -> None:
        self.drafting.show_paper(paper.path.name if paper else "", paper.abstract if paper else None)

    async def reload_from_paper(self, abstract: str) -> None:
        """The paper's abstract (changed on disk) replaces the editor's text, which is kept as a draft."""
        self.keeper.keep_as_new(self.drafting.text)
        self.drafting.load_text(abstract)
        self.notify("Reloaded from the paper; your text is kept as a draft of its own (Ctrl+O)")

    @work(group="paper", exclusive=True)
    async def action_save(self) -> None:
        """Ctrl+S: write the abstract back into its paper; without one, save the draft to a file."""
        if self.papers.paper is None:
            self.action_save_as()
        else:
            await self.papers.save(self.drafting.text)

    def action_copy_draft(self) -> None:
        """F4: the whole draft to the system clipboard (OSC 52: works over SSH, in most terminals)."""
        text = self.drafting.text
        self.copy_to_clipboard(text)
        self.notify(f"Copied the draft ({len(text):,} characters) to the clipboard")

    def action_save_as(self) -> None:
        from arxiv_tui.tui.screens.save_as import SaveAsScreen

        self.push_screen(SaveAsScreen(self.drafting.text, self.keeper.save_as))

    def action_tree(self) -> None:
        from arxiv_tui.tui.screens.tree import TreeScreen

        self.push_screen(TreeScreen(self.history, self.keeper.read, self.keeper.draft_id), self.drafting.jump_to_node)

    # Settings, help, commands -------------------------------------------------------------------
    def action_settings(self) -> None:
        from arxiv_tui.tui.screens.settings import SettingsScreen

        self.push_screen(SettingsScreen(self.config), self.apply_config)

    def apply_config(self, config: Config | None) -> None:
        """Use and persist new settings; reload the model if it changed."""
        if config is None or config == self.config:
            return
        reload = config.backend_settings() != self.config.backend_settings()
        self.config = config
        self.drafting.use_config(config)
        save_config(config)
        self.set_keymap(config.keymap)
        self.notify("Settings saved")
        if reload:
            self.drafting.stop_engine()
            self.drafting.load_model()

    def action_help(self) -> None:
        from arxiv_tui.tui.screens.help import HelpScreen, key_rows

        keymap, display = self.config.keymap, self.get_key_display
        self.push_screen(
            HelpScreen(
                [
                    ("arxiv-tui", key_rows(DRAFTING_KEYS + APP_KEYS, keymap, display)),
                    (
                        "Command palette",
                        [(display(Binding(self.COMMAND_PALETTE_BINDING, "")), "every command, by name")],
                    ),
                    ("Editor", key_rows([b for b in DraftEditor.BINDINGS if isinstance(b, Binding)], keymap, display)),
                ]
            )
        )

    def get_system_commands(self, screen: Screen):
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Settings", "Alternatives, temperature, top-p, length, debounce, model", self.action_settings
        )
        yield SystemCommand("History", "Past drafts and alternatives, with search", self.action_history)
        yield SystemCommand("Tree of choices", "This draft's branches: jump to any request", self.action_tree)
        yield SystemCommand(
            "New draft", "Start an empty draft (the current one stays in history)", self.action_new_draft
        )
        yield SystemCommand(
            "Copy the draft", "To the system clipboard (over SSH too, by OSC 52)", self.action_copy_draft
        )
        yield SystemCommand("Save as", "Save the draft to a file", self.action_save_as)
        if self.papers.paper is not None:
            yield SystemCommand(
                f"Save to {self.papers.paper.path.name}", "Write the abstract back into the paper", self.action_save
            )
        yield SystemCommand(
            "Regenerate", "New alternatives for the text before the cursor", self.drafting.action_regenerate
        )
        toggled = not self.config.stop_at_sentence
        yield SystemCommand(
            f"Stop at sentence end: turn {'on' if toggled else 'off'}",
            "End each alternative at a sentence end",
            lambda: self.apply_config(Config(**{**self.config.__dict__, "stop_at_sentence": toggled})),
        )

    @work(group="quit", exclusive=True)
    async def action_quit(self) -> None:  # type: ignore[override]  # a worker: asks before quitting
        """Ctrl+Q: quit, first asking whether to save an abstract its paper does not hold yet."""
        if await self.papers.may_quit(self.drafting.text):
            self.drafting.stop_engine()
            self.exit()


def run_app(
    model: str | None, paper_file: Path | None = None, api_base: str | None = None, api_model: str | None = None
) -> int:
    """Run the app until the user quits (on the abstract of `paper_file`, if given), on `model` or
    the server at `api_base` where named; say where a draft the history could not take was kept."""
    from arxiv_tui.store.paper import open_paper

    paper = open_paper(paper_file) if paper_file else None
    app = ArxivApp(model=model, paper=paper, api_base=api_base, api_model=api_model)
    app.run()
    if app.rescued_to is not None:
        print(f"arxiv-tui: the history could not take your draft; it is saved in {app.rescued_to}", file=sys.stderr)
    return 0
