"""The drafting app: an editor, N streamed alternatives, keyboard picking, history.

The model runs in a child process (`arxiv_tui.runtime.engine_process`): this process never imports
torch or transformers, the first screen appears at once, and the engine keeps its full speed
while the UI draws. Its events arrive as `EngineEvent` messages; deltas come batched every
50 ms, tagged with the request id so a superseded request's are dropped.
"""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import TextArea

from arxiv_tui.tui import terminal_keys
from arxiv_tui.tui.accepting import AcceptingMixin
from arxiv_tui.tui.config import Config, load_config, save_config
from arxiv_tui.store.keeper import (
    DraftConflict,
    DraftKeeper,
    HistoryDamaged,
    WriteFailed,
    WritesFailing,
    WritesResumed,
)
from arxiv_tui.store.history import History
from arxiv_tui.store.records import Draft
from arxiv_tui.tui.reviewing import ReviewingMixin
from arxiv_tui.tui.widgets.confidence import ConfidenceView
from arxiv_tui.tui.widgets.alternatives import AlternativesPanel
from arxiv_tui.tui.widgets.editor import DraftEditor
from arxiv_tui.tui.widgets.keybar import KeyBar
from arxiv_tui.tui.widgets.status import StatusBar

if TYPE_CHECKING:
    from arxiv_tui.runtime.engine_process import EngineProcess, Loaded, Progress
    from arxiv_tui.runtime.generation import GenerationSettings

AUTOSAVE_S = 0.5  # a draft is saved this long after the last change
MAX_ALTERNATIVES = 9


class EngineEvent(Message):
    """An event of the engine's process (see `arxiv_tui.runtime.engine_process`), on the UI's queue."""

    def __init__(self, event: object) -> None:
        super().__init__()
        self.event = event


class HistoryEvent(Message):
    """An event of the history's writer (see `arxiv_tui.store.keeper`), on the UI's queue."""

    def __init__(self, event: object) -> None:
        super().__init__()
        self.event = event


class ArxivApp(AcceptingMixin, ReviewingMixin, App):
    """arxiv-tui's drafting screen."""

    CSS_PATH = "app.tcss"
    TITLE = "arxiv-tui"
    # Defaults that arrive intact from common terminals (xterm, GNOME Terminal, iTerm2, Windows
    # Terminal, tmux, screen, VS Code): Ctrl+H arrives as Backspace, so History is Ctrl+O; Alt+]
    # needs `terminal_keys`, and Alt+Down is its fallback. Every id can be remapped in [keymap].
    BINDINGS = [
        Binding("tab", "accept", "Accept", id="accept", priority=True),
        *[Binding(str(i), f"accept_index({i - 1})", "Pick 1‥N" if i == 1 else "", id=f"accept_{i}",
                  show=i == 1, key_display="1‥N", priority=True) for i in range(1, MAX_ALTERNATIVES + 1)],
        Binding("alt+right_square_bracket,alt+down", "cycle(1)", "Next", id="next", priority=True),
        Binding("alt+left_square_bracket,alt+up", "cycle(-1)", "Previous", id="previous", show=False, priority=True),
        Binding("ctrl+right", "accept_word", "Word", id="accept_word", priority=True),
        Binding("ctrl+down", "accept_sentence", "Sentence", id="accept_sentence", priority=True),
        Binding("ctrl+z", "undo", "Undo", id="undo", show=False, priority=True),
        Binding("escape", "dismiss_alternatives", "Cancel", id="cancel"),
        Binding("ctrl+r", "regenerate", "Regenerate", id="regenerate"),
        Binding("ctrl+t", "tree", "Tree", id="tree"),
        Binding("f2", "confidence", "Confidence", id="confidence"),
        Binding("ctrl+o", "history", "History", id="history"),
        Binding("ctrl+s", "save_as", "Save as", id="save_as", show=False),
        Binding("f3", "settings", "Settings", id="settings"),
        Binding("f1,ctrl+g", "help", "Help", id="help"),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
    ]

    def __init__(self, model: str | None = None, config: Config | None = None, history: History | None = None) -> None:
        super().__init__()
        terminal_keys.install()
        loaded, self._config_warnings = (config, []) if config else load_config()
        self.config = loaded if model is None else Config(**{**loaded.__dict__, "model": model})
        # Opened here, before the event loop runs: the file, or memory if the file can't be used.
        self.keeper = DraftKeeper(history, on_event=lambda event: self.post_message(HistoryEvent(event)))
        self.history = self.keeper.history
        self.rescued_to: Path | None = None  # where a draft the history could not take was kept
        self.engine: EngineProcess | None = None  # set once the model has loaded
        self._engine_process: EngineProcess | None = None  # loading, or loaded
        self._request_id = 0
        self._request_db_id: int | Future[int] | None = None  # its id in the history, once written
        self._stale = True  # cards no longer continue the text at the cursor (see `_set_stale`)
        self._usable_keys: tuple | None = None  # what the footer last showed (see `_refresh_keys`)
        self._own_edits = 0  # editor changes we make ourselves (accepting): no new request
        self._autosave = None
        self._init_choices()

    def compose(self) -> ComposeResult:
        # Kept as attributes, not queried: a timer or an engine event may still arrive while the
        # app shuts down, when queries find nothing but the draft's text must still be saved.
        self.editor = DraftEditor(self._acceptable, id="editor")
        self.panel = AlternativesPanel(id="alternatives")
        self.status = StatusBar(id="status")
        yield self.editor
        yield ConfidenceView(id="confidence")
        yield self.panel
        yield self.status
        yield KeyBar()

    async def on_mount(self) -> None:
        self.set_keymap(self.config.keymap)
        for warning in self._config_warnings:
            self.notify(warning, severity="warning")
        if self.keeper.problem:
            self.notify(f"Your history can't be saved ({self.keeper.problem}). Drafts are kept in memory "
                        "while the app runs; Ctrl+S saves this one to a file.", severity="error", timeout=30)
        if self.history.notice:
            self.notify(self.history.notice, severity="error", timeout=15)
        self.status.model = self.config.model
        self.editor.focus()
        self.load_model()
        await self._open_draft(await self.keeper.open_first())
        self.keeper.check_file()

    # The engine's process ---------------------------------------------------------------------
    def load_model(self) -> None:
        """Start the engine's process, which loads the model and says when it is ready (starting a
        process costs ~1-8 ms here: the loading itself happens over there)."""
        from arxiv_tui.runtime.engine_process import EngineProcess

        c = self.config
        self._engine_process = EngineProcess(
            c.model, c.precision, c.template, min(c.n, MAX_ALTERNATIVES),
            on_event=lambda event: self.post_message(EngineEvent(event)),
            draft=self.text_before_cursor(), max_new_tokens=c.max_new_tokens,
        )

    def on_unmount(self) -> None:
        """However the app ends: the draft is saved (or rescued to a file) and the engine's
        process stopped."""
        if self._autosave is not None:
            self._autosave.stop()
        self._stop_engine()
        self.rescued_to = self.keeper.close(self.editor.text)

    def _stop_engine(self) -> None:
        self.engine = None
        if self._engine_process is not None:
            self._engine_process.close()
            self._engine_process = None

    def on_engine_event(self, message: EngineEvent) -> None:
        from arxiv_tui.runtime import engine_process as e

        match message.event:
            case e.Progress() as progress:
                self._on_progress(progress)
            case e.Loaded() as loaded:
                self._on_loaded(loaded)
            case e.Scored() as scored:
                self.show_scores(scored)
            case e.LoadFailed(error=error):
                self.status.state = "no model"
                self.notify(f"The model could not be loaded: {error}", severity="error", timeout=20)
            case e.RequestFailed(error=error):
                self.status.state = "idle"
                self.notify(f"The model failed on this request: {error}", severity="error", timeout=20)
            case e.EngineStopped(exit_code=code):
                self._engine_stopped(code)

    def _on_loaded(self, loaded: Loaded) -> None:
        self.engine = self._engine_process
        self.status.precision = loaded.precision
        self.status.state = "idle"
        if self.editor.text.strip():
            self.schedule_generation()

    def _engine_stopped(self, exit_code: int | None) -> None:
        """The engine's process died (killed, out of memory): say so, and start it again if it
        had been working (a process that dies while loading would only die again)."""
        was_ready = self.engine is not None
        self.engine = self._engine_process = None
        if not was_ready:
            self.status.state = "no model"
            self.notify(f"The model's process stopped while loading (exit code {exit_code}).",
                        severity="error", timeout=20)
            return
        self.status.state = "loading"
        self.notify(f"The model's process stopped unexpectedly (exit code {exit_code}); restarting it. "
                    "Your text is safe.", severity="error", timeout=20)
        self.load_model()

    # Requests --------------------------------------------------------------------------------
    def generation_settings(self, seed: int | None = None) -> GenerationSettings:
        from arxiv_tui.runtime.generation import GenerationSettings, SamplingParams

        c = self.config
        return GenerationSettings(
            n=min(c.n, MAX_ALTERNATIVES), max_new_tokens=c.max_new_tokens, seed=seed,
            sampling=SamplingParams(temperature=c.temperature, top_p=c.top_p, top_k=c.top_k),
            stop_at_sentence_end=c.stop_at_sentence,
        )

    def text_before_cursor(self) -> str:
        return self.editor.document.get_text_range((0, 0), self.editor.cursor_location)

    def schedule_generation(self) -> None:
        """Start a request once typing pauses (each call supersedes the last)."""
        self._debounce()

    @work(exclusive=True, group="debounce")
    async def _debounce(self) -> None:
        await asyncio.sleep(self.config.debounce_s)
        self.start_generation()

    def start_generation(self) -> None:
        """Cancel what runs and ask for N alternatives for the text before the cursor."""
        if self.engine is None:
            return
        self._request_id += 1
        settings = self.generation_settings()
        prompt = self.text_before_cursor()
        self.engine.generate(self._request_id, prompt, settings)  # first: it stops the one running and starts
        self._request_db_id = self.keeper.add_request(
            self.config.model, prompt,
            {"n": settings.n, "max_new_tokens": settings.max_new_tokens, "temperature": self.config.temperature,
             "top_p": self.config.top_p, "top_k": self.config.top_k, "stop_at_sentence": self.config.stop_at_sentence},
            draft_text=self.editor.text, cursor=self._cursor_offset(), parent_choice=self._parent_choice,
        )
        self._node_parent = self._parent_choice
        self.editor.suggestion = ""
        self.panel.reset(settings.n, settings.max_new_tokens)
        self._set_stale(False)
        self.status.state = "generating"

    def cancel_generation(self) -> None:
        """Stop the running request at its next step; what it streamed so far stays."""
        if self.engine is not None:
            self.engine.cancel()

    def _on_progress(self, message: Progress) -> None:
        if message.request_id != self._request_id:
            return  # a superseded request
        pieces: dict[int, list[str]] = {}  # one change per card per batch, not one per token
        endings: dict[int, str] = {}
        for delta in message.deltas:
            pieces.setdefault(delta.index, []).append(delta.text)
            if delta.finish_reason is not None:
                endings[delta.index] = delta.finish_reason
        for index, texts in pieces.items():
            if (card := self.panel.card(index)) is not None:
                card.text += "".join(texts)
                card.finish_reason = endings.get(index)
        for index, cost in message.costs.items():
            if (card := self.panel.card(index)) is not None:
                card.cost = cost
        self._show_suggestion()
        if message.done:
            self.status.state = "idle"
            if message.ttft_s is not None:
                self.status.ttft_ms = message.ttft_s * 1000
            self.status.tokens_per_s = message.tokens_per_s
            self.panel.fit(message.tokens)
            cards = self.panel.cards
            self.keeper.save_alternatives(
                self._request_db_id, [(c.text, t, c.finish_reason) for c, t in zip(cards, message.tokens)]
            )

    def _show_suggestion(self) -> None:
        card = self.panel.card(self.panel.highlighted)
        self.editor.show_ghost(card.text if card and not self._stale else "")
        self._refresh_keys()

    def _set_stale(self, stale: bool) -> None:
        """Whether the cards still continue the text at the cursor: if not, they fade and can't be picked."""
        self._stale = stale
        self.panel.set_class(stale, "-stale")
        self._refresh_keys()

    def _refresh_keys(self) -> None:
        """Rebuild the footer only when the set of usable picking keys changed: a rebuild costs
        milliseconds of the UI thread, and streaming asks up to 30 times a second."""
        usable = (self._stale, self.panel.highlighted, tuple(bool(text) for text in self.panel.texts()))
        if usable != self._usable_keys:
            self._usable_keys = usable
            self.refresh_bindings()

    # Typing -----------------------------------------------------------------------------------
    @on(TextArea.Changed, "#editor")
    def on_editor_changed(self) -> None:
        self._schedule_autosave()
        if self._own_edits:
            self._own_edits -= 1
            return
        self.cancel_generation()
        self._set_stale(True)
        self.schedule_generation()

    def _schedule_autosave(self) -> None:
        if self._autosave is not None:
            self._autosave.stop()
        self._autosave = self.set_timer(AUTOSAVE_S, self.save_draft)

    def save_draft(self) -> None:
        self.keeper.save(self.editor.text)

    @property
    def draft_id(self) -> int | None:
        return self.keeper.draft_id

    def on_history_event(self, message: HistoryEvent) -> None:
        match message.event:
            case WritesFailing(error=error):
                self.notify(f"The history can't be written ({error}). Your text is kept in memory and "
                            "saved as soon as the disk takes it; Ctrl+S saves it to a file.",
                            severity="error", timeout=30)
            case WritesResumed():
                self.clear_notifications()  # the "can't be written" notice no longer holds
                self.notify("The history is being saved again; nothing was lost.", timeout=10)
            case HistoryDamaged(detail=detail):
                self.notify(f"The history file {self.history.path} is damaged ({detail}). What can be read still "
                            "shows and new text is still saved; keep a copy of the file.", severity="error", timeout=30)
            case WriteFailed(error=error):
                self.notify(f"A history write failed: {error}", severity="error", timeout=20)
            case DraftConflict(draft_id=draft_id) if draft_id == self.draft_id:
                self._fork_draft(draft_id)

    @work(group="history")
    async def _fork_draft(self, draft_id: int) -> None:
        """Another writer changed this draft: its text stays, ours goes on as a new draft."""
        new_id = await self.keeper.start_new(self.editor.text)
        self.notify(f"Draft {draft_id} was changed in another window: its text stays as it is, yours was "
                    f"kept beside it (a recovered revision) and goes on here as draft {new_id}.",
                    severity="warning", timeout=20)

    def action_dismiss_alternatives(self) -> None:
        """Esc: stop generating and hide the alternatives."""
        self.cancel_generation()
        self._set_stale(True)
        self._show_suggestion()
        self.status.state = "idle" if self.engine else self.status.state

    def action_regenerate(self) -> None:
        self.start_generation()

    # Screens and commands ---------------------------------------------------------------------
    def action_history(self) -> None:
        from arxiv_tui.tui.screens.history import HistoryScreen

        self.save_draft()
        self.push_screen(HistoryScreen(self.history, self.keeper.read), self._history_choice)

    async def _history_choice(self, choice: tuple[str, str] | None) -> None:
        if choice is None:
            return
        kind, value = choice
        if kind == "text":
            self.editor.insert(value)
        elif self._can_switch_drafts():
            self.save_draft()
            if kind == "revision":
                revision = await self.keeper.read(self.history.revision, int(value))
                await self._open_new_draft(revision.text)
                self.notify(f"Revision {revision.revision} of draft {revision.draft_id} opened as a new draft")
            elif (draft := await self.keeper.switch_to(int(value))) is not None:
                await self._open_draft(draft)
            else:
                copy = await self.keeper.read(self.history.draft, int(value))
                await self._open_new_draft(copy.text)
                self.notify(f"Draft {value} is open in another window: its text opened here as a new draft")

    def _can_switch_drafts(self) -> bool:
        if self.keeper.failing:
            self.notify("The history can't be written now, so this draft stays open (its text is kept; "
                        "Ctrl+S saves it to a file).", severity="warning")
        return not self.keeper.failing

    def action_save_as(self) -> None:
        from arxiv_tui.tui.screens.save_as import SaveAsScreen

        self.push_screen(SaveAsScreen(self.editor.text, self.keeper.save_as))

    def action_tree(self) -> None:
        from arxiv_tui.tui.screens.tree import TreeScreen

        self.push_screen(TreeScreen(self.history, self.keeper.read, self.draft_id), self.jump_to_node)

    def action_settings(self) -> None:
        from arxiv_tui.tui.screens.settings import SettingsScreen

        self.push_screen(SettingsScreen(self.config), self.apply_config)

    def apply_config(self, config: Config | None) -> None:
        """Use and persist new settings; reload the model if it changed."""
        if config is None or config == self.config:
            return
        reload = (config.model, config.precision, config.template) != (self.config.model, self.config.precision, self.config.template)
        self.config = config
        save_config(config)
        self.set_keymap(config.keymap)
        self.notify("Settings saved")
        if reload:
            self._stop_engine()
            self.status.model, self.status.precision, self.status.state = config.model, "", "loading"
            self.load_model()

    def action_help(self) -> None:
        from arxiv_tui.tui.screens.help import HelpScreen, key_rows

        keymap, display = self.config.keymap, self.get_key_display
        self.push_screen(HelpScreen([
            ("arxiv-tui", key_rows(self.BINDINGS, keymap, display)),
            ("Command palette", [(display(Binding(self.COMMAND_PALETTE_BINDING, "")), "every command, by name")]),
            ("Editor", key_rows(DraftEditor.BINDINGS, keymap, display)),
        ]))

    async def action_new_draft(self) -> None:
        if self._can_switch_drafts():
            self.save_draft()
            await self._open_new_draft("")

    async def _open_new_draft(self, text: str) -> None:
        draft_id = await self.keeper.start_new(text)
        await self._open_draft(Draft(draft_id, 0.0, text))

    async def _open_draft(self, draft: Draft) -> None:
        """Show `draft` (which the keeper now edits); its next request follows its last acceptance."""
        self._accepted.clear()
        self._parent_choice = self._node_parent = await self.keeper.read(self.history.latest_choice, draft.id)
        if draft.text != self.editor.text:
            self._own_edits += 1
            self.editor.load_text(draft.text)
        self.editor.move_cursor(self.editor.document.end)

    def get_system_commands(self, screen: Screen):
        yield from super().get_system_commands(screen)
        yield SystemCommand("Settings", "Alternatives, temperature, top-p, length, debounce, model", self.action_settings)
        yield SystemCommand("History", "Past drafts and alternatives, with search", self.action_history)
        yield SystemCommand("Tree of choices", "This draft's branches: jump to any request", self.action_tree)
        yield SystemCommand("New draft", "Start an empty draft (the current one stays in history)", self.action_new_draft)
        yield SystemCommand("Regenerate", "New alternatives for the text before the cursor", self.action_regenerate)
        toggled = not self.config.stop_at_sentence
        yield SystemCommand(
            f"Stop at sentence end: turn {'on' if toggled else 'off'}", "End each alternative at a sentence end",
            lambda: self.apply_config(Config(**{**self.config.__dict__, "stop_at_sentence": toggled})),
        )

    async def action_quit(self) -> None:
        self._stop_engine()
        self.exit()


def run_app(model: str | None) -> int:
    """Run the app until the user quits; say where a draft the history could not take was kept."""
    app = ArxivApp(model=model)
    app.run()
    if app.rescued_to is not None:
        print(f"arxiv-tui: the history could not take your draft; it is saved in {app.rescued_to}", file=sys.stderr)
    return 0
