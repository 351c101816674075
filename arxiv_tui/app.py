"""The drafting app: an editor, N streamed alternatives, keyboard picking, history.

torch and transformers are imported only inside the model-loading worker, so the first screen
appears before they load. Generation runs in a thread worker; its deltas reach the UI as
messages batched every ~40 ms, tagged with the request id so a superseded request's are dropped.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, TextArea

from arxiv_tui.accepting import AcceptingMixin
from arxiv_tui.config import Config, load_config, save_config
from arxiv_tui.history import History
from arxiv_tui.reviewing import ReviewingMixin
from arxiv_tui.widgets.confidence import ConfidenceView
from arxiv_tui.widgets.alternatives import AlternativesPanel
from arxiv_tui.widgets.editor import DraftEditor
from arxiv_tui.widgets.status import StatusBar

if TYPE_CHECKING:
    from arxiv_tui.engine import Delta, Engine, GenerationSettings

BATCH_S = 0.04  # how often streamed deltas are sent to the UI
AUTOSAVE_S = 0.5  # a draft is saved this long after the last change
MAX_ALTERNATIVES = 9


class ModelReady(Message):
    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine


class ModelFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class Progress(Message):
    """Deltas of request `request_id`, with (tokens, ms) of the alternatives that finished;
    `done` on the last one, with the request's figures."""

    def __init__(self, request_id: int, deltas: list[Delta], costs: dict[int, tuple[int, float]], done: bool = False,
                 tokens: list[int] | None = None, ttft_s: float | None = None, tokens_per_s: float | None = None) -> None:
        super().__init__()
        self.request_id, self.deltas, self.costs, self.done = request_id, deltas, costs, done
        self.tokens, self.ttft_s, self.tokens_per_s = tokens, ttft_s, tokens_per_s


class ArxivApp(AcceptingMixin, ReviewingMixin, App):
    """arxiv-tui's drafting screen."""

    CSS_PATH = "app.tcss"
    TITLE = "arxiv-tui"
    BINDINGS = [
        Binding("tab", "accept", "Accept", id="accept", priority=True),
        *[Binding(str(i), f"accept_index({i - 1})", "Pick 1‥N" if i == 1 else "", id=f"accept_{i}",
                  show=i == 1, key_display="1‥N", priority=True) for i in range(1, MAX_ALTERNATIVES + 1)],
        Binding("alt+right_square_bracket,alt+down", "cycle(1)", "Next", id="next", priority=True),
        Binding("alt+left_square_bracket,alt+up", "cycle(-1)", "Previous", id="previous", show=False, priority=True),
        Binding("ctrl+right", "accept_word", "Word", id="accept_word", priority=True),
        Binding("ctrl+down", "accept_sentence", "Sentence", id="accept_sentence", priority=True),
        Binding("escape", "dismiss_alternatives", "Cancel", id="cancel"),
        Binding("ctrl+r", "regenerate", "Regenerate", id="regenerate"),
        Binding("ctrl+z", "undo", "Undo", id="undo", show=False, priority=True),
        Binding("ctrl+t", "tree", "Tree", id="tree"),
        Binding("f2", "confidence", "Confidence", id="confidence"),
        Binding("ctrl+h", "history", "History", id="history"),
        Binding("f3", "settings", "Settings", id="settings"),
        Binding("f1", "help", "Help", id="help"),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
    ]

    def __init__(self, model: str | None = None, config: Config | None = None, history: History | None = None) -> None:
        super().__init__()
        loaded, self._config_warnings = (config, []) if config else load_config()
        self.config = loaded if model is None else Config(**{**loaded.__dict__, "model": model})
        self.history = history
        self.engine: Engine | None = None
        self.draft_id: int | None = None
        self._request_id = 0
        self._request_db_id: int | None = None
        self._cancel = threading.Event()
        self._stale = True  # cards no longer continue the text at the cursor
        self._own_edits = 0  # editor changes we make ourselves (accepting): no new request
        self._autosave = None
        self._init_choices()

    def compose(self) -> ComposeResult:
        yield DraftEditor(self._acceptable, id="editor")
        yield ConfidenceView(id="confidence")
        yield AlternativesPanel(id="alternatives")
        yield StatusBar(id="status")
        yield Footer()

    @property
    def editor(self) -> DraftEditor:
        return self.query_one("#editor", DraftEditor)

    @property
    def panel(self) -> AlternativesPanel:
        return self.query_one(AlternativesPanel)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    def on_mount(self) -> None:
        self.set_keymap(self.config.keymap)
        for warning in self._config_warnings:
            self.notify(warning, severity="warning")
        self.history = self.history or History()
        if self.history.notice:
            self.notify(self.history.notice, severity="error", timeout=15)
        draft = self.history.latest_draft()
        if draft is None:
            self._open_draft(self.history.new_draft(""), "")
        else:
            self._open_draft(draft.id, draft.text)
        self.status.model = self.config.model
        self.editor.focus()
        self.load_model()

    # Model loading -------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def load_model(self) -> None:
        from arxiv_tui.engine import Engine
        from arxiv_tui.models import ModelError

        try:
            self.post_message(ModelReady(Engine.open(self.config.model, self.config.precision, self.config.template)))
        except (ModelError, ValueError, OSError) as exc:
            self.post_message(ModelFailed(str(exc)))

    def on_model_ready(self, message: ModelReady) -> None:
        self.engine = message.engine
        self.status.precision = message.engine.loaded.precision
        self.status.state = "idle"
        if self.editor.text.strip():
            self.schedule_generation()

    def on_model_failed(self, message: ModelFailed) -> None:
        self.status.state = "no model"
        self.notify(f"The model could not be loaded: {message.error}", severity="error", timeout=20)

    # Requests --------------------------------------------------------------------------------
    def generation_settings(self, seed: int | None = None) -> GenerationSettings:
        from arxiv_tui.engine import GenerationSettings
        from arxiv_tui.sampling import SamplingParams

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
        self._cancel.set()
        self._cancel = threading.Event()
        self._request_id += 1
        settings = self.generation_settings()
        prompt = self.text_before_cursor()
        self._request_db_id = self.history.add_request(
            self.draft_id, self.config.model, prompt,
            {"n": settings.n, "max_new_tokens": settings.max_new_tokens, "temperature": self.config.temperature,
             "top_p": self.config.top_p, "top_k": self.config.top_k, "stop_at_sentence": self.config.stop_at_sentence},
            draft_text=self.editor.text, cursor=self._cursor_offset(), parent_choice=self._parent_choice,
        )
        self._node_parent = self._parent_choice
        self._stale = False
        self.editor.suggestion = ""
        self.panel.remove_class("-stale")
        self.panel.reset(settings.n)
        self.status.state = "generating"
        self._generate(self._request_id, prompt, settings, self._cancel)

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def _generate(self, request_id: int, prompt: str, settings: GenerationSettings, cancel: threading.Event) -> None:
        from arxiv_tui.engine import Alternative

        alternatives = [Alternative(i) for i in range(settings.n)]
        started = last_post = time.perf_counter()
        ttft, pending, costs = None, [], {}
        for deltas in self.engine.stream(prompt, settings, cancel=cancel, alternatives=alternatives):
            now = time.perf_counter()
            ttft = ttft if ttft is not None else now - started
            pending.extend(deltas)
            for delta in deltas:
                if delta.finish_reason is not None:
                    costs[delta.index] = (len(alternatives[delta.index].tokens), (now - started) * 1000)
            if now - last_post >= BATCH_S:
                self.post_message(Progress(request_id, pending, costs))
                pending, costs, last_post = [], {}, now
        total = time.perf_counter() - started
        tokens = [len(a.tokens) for a in alternatives]
        self.post_message(Progress(request_id, pending, costs, done=True, tokens=tokens, ttft_s=ttft,
                                   tokens_per_s=sum(tokens) / total if total else None))

    def on_progress(self, message: Progress) -> None:
        if message.request_id != self._request_id:
            return  # a superseded request
        for delta in message.deltas:
            if (card := self.panel.card(delta.index)) is not None:
                card.text += delta.text
                card.finish_reason = delta.finish_reason
        for index, cost in message.costs.items():
            if (card := self.panel.card(index)) is not None:
                card.cost = cost
        self._show_suggestion()
        if message.done:
            self.status.state = "idle"
            if message.ttft_s is not None:
                self.status.ttft_ms = message.ttft_s * 1000
            self.status.tokens_per_s = message.tokens_per_s
            cards = self.panel.cards
            self.history.save_alternatives(
                self._request_db_id, [(c.text, t, c.finish_reason) for c, t in zip(cards, message.tokens)]
            )

    def _show_suggestion(self) -> None:
        card = self.panel.card(self.panel.highlighted)
        self.editor.suggestion = card.text if card and not self._stale else ""
        self.refresh_bindings()  # the footer shows the picking keys only while they work

    # Typing -----------------------------------------------------------------------------------
    @on(TextArea.Changed, "#editor")
    def on_editor_changed(self) -> None:
        self._schedule_autosave()
        if self._own_edits:
            self._own_edits -= 1
            return
        self._cancel.set()
        self._stale = True
        self.panel.add_class("-stale")
        self.refresh_bindings()
        self.schedule_generation()

    def _schedule_autosave(self) -> None:
        if self._autosave is not None:
            self._autosave.stop()
        self._autosave = self.set_timer(AUTOSAVE_S, self.save_draft)

    def save_draft(self) -> None:
        if self.history is not None and self.draft_id is not None:
            self.history.save_draft(self.draft_id, self.editor.text)

    def action_dismiss_alternatives(self) -> None:
        """Esc: stop generating and hide the alternatives."""
        self._cancel.set()
        self._stale = True
        self._show_suggestion()
        self.panel.add_class("-stale")
        self.status.state = "idle" if self.engine else self.status.state

    def action_regenerate(self) -> None:
        self.start_generation()

    # Screens and commands ---------------------------------------------------------------------
    def action_history(self) -> None:
        from arxiv_tui.screens.history import HistoryScreen

        self.save_draft()
        self.push_screen(HistoryScreen(self.history), self._history_choice)

    def _history_choice(self, choice: tuple[str, str] | None) -> None:
        if choice is None:
            return
        kind, value = choice
        if kind == "draft":
            draft = self.history.draft(int(value))
            self._open_draft(draft.id, draft.text)
        else:
            self.editor.insert(value)

    def action_tree(self) -> None:
        from arxiv_tui.screens.tree import TreeScreen

        self.push_screen(TreeScreen(self.history, self.draft_id), self.jump_to_node)

    def action_settings(self) -> None:
        from arxiv_tui.screens.settings import SettingsScreen

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
            self.engine = None
            self.status.model, self.status.precision, self.status.state = config.model, "", "loading"
            self.load_model()

    def action_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def action_new_draft(self) -> None:
        self.save_draft()
        self._open_draft(self.history.new_draft(""), "")

    def _open_draft(self, draft_id: int, text: str) -> None:
        """Edit draft `draft_id`; its next request follows its last acceptance."""
        self.draft_id = draft_id
        self._accepted.clear()
        self._parent_choice = self._node_parent = self.history.latest_choice(draft_id)
        if text != self.editor.text:
            self._own_edits += 1
            self.editor.load_text(text)
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
        self._cancel.set()
        self.save_draft()
        self.exit()


def run_app(model: str | None) -> int:
    """Run the app until the user quits."""
    ArxivApp(model=model).run()
    return 0
