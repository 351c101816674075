"""The drafting screen: the editor, N streamed alternatives, keyboard picking.

The screen owns its widgets, its workers and its `DraftSession` (UI-free state). The model runs
in a child process (`arxiv_tui.runtime.engine_client`): its events arrive as `EngineEvent`
messages; the first token at once, then deltas batched every 100 ms, tagged with the request id so a superseded
request's are dropped. Edits the screen makes itself (accepting, loading a draft) are
`DraftEditor.own_edit`s, so they never ask for alternatives of their own.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import TextArea

from arxiv_tui.tui.engine_link import EngineEvent, EngineLink
from arxiv_tui.tui.keys import DRAFTING_KEYS, MAX_ALTERNATIVES
from arxiv_tui.tui.session import Acceptance, Cards, DraftSession
from arxiv_tui.tui.widgets.alternatives import AlternativesPanel
from arxiv_tui.tui.widgets.editor import DraftEditor
from arxiv_tui.tui.widgets.keybar import KeyBar
from arxiv_tui.tui.widgets.status import StatusBar

if TYPE_CHECKING:
    from arxiv_tui.runtime.protocol import Backend, Loaded, Progress
    from arxiv_tui.store.keeper import DraftKeeper
    from arxiv_tui.store.records import Draft
    from arxiv_tui.tui.config import Config


class DraftScreen(Screen):
    """Type; when you pause, alternatives stream in; pick one (or part of one) with the keyboard."""

    BINDINGS = DRAFTING_KEYS  # type: ignore[assignment]  # Binding objects only: a narrower list

    def __init__(self, config: Config, keeper: DraftKeeper) -> None:
        super().__init__()
        self.config = config  # see `use_config`
        self.keeper = keeper
        self.session = DraftSession()
        self.model_name = config.model_name  # what the history records; a server's, once it answers
        self.link = EngineLink(on_event=lambda event: self.post_message(EngineEvent(event)))
        self._usable_keys: tuple | None = None  # what the footer last showed (see `_refresh_keys`)
        # Kept as attributes, not queried: a timer or an engine event may still arrive while the
        # app shuts down, when queries find nothing but the draft's text must still be saved.
        self.paper_text: str | None = None  # the abstract as its paper holds it (None: no paper)
        self.editor = DraftEditor(
            self._acceptable,
            on_save=self.save_draft,
            id="editor",
            on_edit=lambda: self.status.show_text(self.editor.text, self.paper_text),
        )
        self.panel = AlternativesPanel(id="alternatives")
        self.status = StatusBar(id="status")

    def compose(self) -> ComposeResult:
        yield self.editor
        yield self.panel
        with Vertical(id="bars"):  # why: see app.tcss
            yield self.status
            yield KeyBar()

    def on_mount(self) -> None:
        self.status.model = self.config.model_name
        self.editor.focus()

    # The engine's process ---------------------------------------------------------------------
    @property
    def engine(self) -> Backend | None:
        """The engine's process, once its model has loaded."""
        return self.link.ready

    def load_model(self) -> None:
        """Start the engine's process, which loads the model and says when it is ready."""
        self.model_name = self.config.model_name
        self.status.model, self.status.precision, self.status.state = self.model_name, "", "loading"
        self.link.start(self.config, self.editor.text_before_cursor(), MAX_ALTERNATIVES)

    def stop_engine(self, wait_s: float = 1.0) -> None:
        self.link.stop(wait_s)

    def on_engine_event(self, message: EngineEvent) -> None:
        from arxiv_tui.runtime import protocol as e
        from arxiv_tui.tui.screens.confidence import ConfidenceScreen

        match message.event:
            case e.Progress() as progress:
                self.show_progress(progress)
            case e.Fetching(progress=progress):
                self.link.fetching = True
                self.status.state = progress.describe()
            case e.Loaded() as loaded:
                self._loaded(loaded)
            case e.Scored() as scored if isinstance(self.app.screen, ConfidenceScreen):
                self.app.screen.show(scored)
            case e.LoadFailed(error=error):
                self.link.stopped()  # its process ends: Ctrl+R may try again
                self.status.state = "no model"
                self.notify(f"The model could not be loaded: {error}", severity="error", timeout=20)
            case e.RequestFailed(error=error):
                self.status.state = "idle"
                self.notify(f"The model failed on this request: {error}", severity="error", timeout=20)
            case e.EngineStopped(exit_code=code):
                self._engine_stopped(code)

    def _loaded(self, loaded: Loaded) -> None:
        self.link.loaded()
        if loaded.served:  # a server's model, now known: the history records it with the server
            self.model_name = self.status.model = loaded.served
        self.status.precision = f"{loaded.runtime} {loaded.precision}" if loaded.runtime else loaded.precision
        if loaded.notice:
            self.notify(loaded.notice, severity="warning", timeout=15, markup=False)
        self.status.state = "idle"
        if self.editor.text.strip():
            self.schedule_generation()

    def _engine_stopped(self, exit_code: int | None) -> None:
        """The engine's process died (killed, out of memory): say so, and start it again if it
        had been working."""
        if not self.link.stopped():
            self.status.state = "no model"
            self.notify(
                f"The model's process stopped while loading (exit code {exit_code}).", severity="error", timeout=20
            )
            return
        self.notify(
            f"The model's process stopped unexpectedly (exit code {exit_code}); restarting it. Your text is safe.",
            severity="error",
            timeout=20,
        )
        self.load_model()

    # Requests --------------------------------------------------------------------------------
    def schedule_generation(self) -> None:
        """Start a request once typing pauses (each call supersedes the last)."""
        self._debounce()

    @work(exclusive=True, group="debounce")
    async def _debounce(self) -> None:
        await asyncio.sleep(self.config.debounce_s)
        self.start_generation()

    def start_generation(self) -> None:
        """Ask for N alternatives for the text before the cursor (the engine stops the one running)."""
        if self.engine is None:
            return
        settings, prompt = self.config.generation_settings(MAX_ALTERNATIVES), self.editor.text_before_cursor()
        parent = self.session.parent_choice
        self.engine.generate(self.session.sent(), prompt, settings)  # it stops the one running
        self.session.request = self.keeper.add_request(
            self.model_name,
            prompt,
            self.config.request_record(settings),
            draft_text=self.editor.text,
            cursor=self.editor.cursor_offset(),
            parent_choice=parent,
        )
        self.editor.show_ghost("")
        self.panel.reset(settings.n, settings.max_new_tokens)
        self._set_stale(False)
        self.status.state = "generating"

    def stop_requests(self) -> None:
        """The one way to stop generating: the running request ends at its next step (what it
        streamed stays), and one about to start (typing just paused) does not start."""
        self.workers.cancel_group(self, "debounce")
        if self.engine is not None:
            self.engine.cancel()

    def show_progress(self, message: Progress) -> None:
        """A batch of deltas: one text change per card, however many tokens it holds."""
        if not self.session.is_current(message.request_id):
            return  # a superseded request
        self.panel.stream(message.deltas, message.costs)
        self._show_suggestion()
        if message.done:
            self.status.state = "idle"
            if message.ttft_s is not None:
                self.status.ttft_ms = message.ttft_s * 1000
            self.status.tokens_per_s = message.tokens_per_s
            tokens = message.tokens or []  # always sent with `done`
            self.panel.request_ended(tokens)
            self.panel.flag(self.editor.text, message.copied)
            self.keeper.save_alternatives(
                self.session.current_request(),
                [(c.text, t, c.finish_reason) for c, t in zip(self.panel.cards, tokens, strict=False)],
            )

    def _show_suggestion(self) -> None:
        card = self.panel.card(self.panel.highlighted)
        self.editor.show_ghost(card.text if card and not self.session.stale else "")
        self._refresh_keys()

    def _set_stale(self, stale: bool) -> None:
        """Whether the cards still continue the text at the cursor: if not, they fade and can't be picked."""
        self.session.stale = stale
        self.panel.set_class(stale, "-stale")
        self._refresh_keys()

    def _refresh_keys(self) -> None:
        """Rebuild the footer only when the set of usable picking keys changed: a rebuild costs
        milliseconds of the UI thread, and streaming asks up to 30 times a second."""
        usable = (self.session.stale, self.panel.highlighted, tuple(bool(text) for text in self.panel.texts()))
        if usable != self._usable_keys:
            self._usable_keys = usable
            self.app.refresh_bindings()

    # Typing and saving -------------------------------------------------------------------------
    @on(TextArea.Changed, "#editor")
    def _typed(self) -> None:
        """The writer typed (the screen's own edits are not heard: see `DraftEditor.own_edit`)."""
        self.stop_requests()
        self._set_stale(True)
        self.schedule_generation()

    # What the app and other screens ask of the draft ---------------------------------------------
    @property
    def text(self) -> str:
        return self.editor.text

    def insert_text(self, text: str) -> None:
        """Type `text` at the cursor (an alternative picked in the history)."""
        self.editor.insert(text)

    def load_text(self, text: str) -> None:
        """The whole text replaced by `text` (the paper's, reloaded), asking for no alternatives."""
        self.editor.load_own(text)

    def replace_text(self, start: int, end: int, text: str) -> None:
        """Put `text` in place of characters `start:end`, asking for no alternatives."""
        self.editor.replace_own(start, end, text)

    def show_paper(self, name: str, abstract: str | None) -> None:
        """The paper the draft is saved to (`abstract`: its text there; None and "": no paper)."""
        self.paper_text, self.status.file = abstract, name
        self.status.show_text(self.editor.text, abstract)

    def use_config(self, config: Config) -> None:
        """New settings: the next request uses them (the app reloads the model if it changed)."""
        self.config = config

    def stop_autosave(self) -> None:
        self.editor.stop_autosave()

    def save_draft(self) -> None:
        self.keeper.save(self.editor.text)

    async def open_draft(self, draft: Draft) -> None:
        """Show `draft` (which the keeper now edits); its next request follows its last acceptance."""
        self.session.open(await self.keeper.read(self.keeper.history.latest_choice, draft.id))
        if draft.text != self.editor.text:
            self.editor.load_own(draft.text)
        self.editor.move_cursor(self.editor.document.end)

    def action_dismiss_alternatives(self) -> None:
        """Esc: stop generating and hide the alternatives; while the model downloads, stop that
        (what arrived is kept, and the next start, or Ctrl+R, resumes from there)."""
        if self.link.fetching:
            self.stop_engine(wait_s=0)  # a download has no step to finish: what arrived is on disk
            self.status.state = "download stopped"
            self.notify(
                "Download stopped. What arrived is kept: it resumes from there with Ctrl+R, "
                "or when arxiv-tui next starts.",
                timeout=15,
            )
            return
        self.stop_requests()
        self._set_stale(True)
        self._show_suggestion()
        self.status.state = "idle" if self.engine else self.status.state

    def action_regenerate(self) -> None:
        """Ctrl+R: new alternatives; with no model (a stopped download), start loading it again."""
        if self.engine is None and not self.link.starting:
            self.load_model()
            return
        self.start_generation()

    def action_confidence(self) -> None:
        """F2: how likely each token is, on a screen of its own."""
        from arxiv_tui.tui.screens.confidence import ConfidenceScreen

        if self.engine is None:
            self.notify("The model is still loading", severity="warning")
            return
        self.action_dismiss_alternatives()
        self.app.push_screen(ConfidenceScreen(self.engine, self))

    # Picking ------------------------------------------------------------------------------------
    def _acceptable(self, index: int | None = None) -> bool:
        """Whether alternative `index` (default: the highlighted one) can be accepted now."""
        card = self.panel.card(self.panel.highlighted if index is None else index)
        return not self.session.stale and card is not None and bool(card.text)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "accept_index":
            index = parameters[0]
            assert isinstance(index, int)  # accept_index(N) in the bindings
            return self._acceptable(index)
        if action in ("accept_word", "accept_sentence", "cycle"):
            return self._acceptable()
        return True

    def _insert(self, text: str, index: int, kind: str) -> None:
        """Put `text` in at the cursor and record the choice, remembering how to undo it."""
        start = self.editor.cursor_offset()
        cards: Cards = tuple((card.text, card.finish_reason) for card in self.panel.cards)
        self.editor.insert(text)
        request = self.session.current_request()
        choice = self.keeper.add_choice(request, index, text, kind)
        self.session.accepted(
            Acceptance(request, self.session.node_parent, start, text, self.editor.text, cards, self.panel.highlighted),
            choice,
        )

    def action_accept(self) -> None:
        """Tab: accept the highlighted alternative, or ask for alternatives if none shows."""
        if self._acceptable():
            self.action_accept_index(self.panel.highlighted)
        else:
            self.start_generation()

    def action_accept_index(self, index: int) -> None:
        self.stop_requests()
        card = self.panel.card(index)
        assert card is not None  # `check_action` let the key through only for a card with text
        self._insert(card.text, index, "whole")  # the change then asks for the next ones

    def action_cycle(self, step: int) -> None:
        self.panel.cycle(step)
        self._show_suggestion()

    def _accept_part(self, part: str, kind: str) -> None:
        """Insert the start of the highlighted alternative and keep its rest, without a new request."""
        with self.editor.own_edit():
            self._insert(part, self.panel.highlighted, kind)
        self.panel.consume(part)
        self._show_suggestion()

    def action_accept_word(self) -> None:
        self._accept_part(self.panel.next_word(), "word")

    def action_accept_sentence(self) -> None:
        self._accept_part(self.panel.next_sentence(), "sentence")

    def action_undo(self) -> None:
        """Ctrl+Z: take back the last acceptance if nothing changed since, else the editor's undo."""
        if self.session.undoable(self.editor.text) is None:
            self.editor.action_undo()
            return
        acceptance = self.session.take_back()
        self.stop_requests()  # the acceptance's own follow-up request, if it started
        self.editor.replace_own(acceptance.start, acceptance.start + len(acceptance.text), "")
        self.editor.move_cursor(self.editor.location_of(acceptance.start))
        self.show_node(acceptance.request, acceptance.parent_choice, acceptance.cards, acceptance.highlighted)

    def show_node(self, request, parent_choice, cards: Cards, highlighted: int = 0) -> None:
        """Show a tree node's alternatives, pickable, as the continuation of the text at the cursor."""
        self.session.show_node(request, parent_choice)
        self.panel.reset(len(cards))
        for card, (text, reason) in zip(self.panel.cards, cards, strict=True):
            card.text, card.finish_reason = text, reason
        self.panel.highlighted = min(highlighted, max(len(cards) - 1, 0))
        self._set_stale(False)
        self.status.state = "idle" if self.engine else self.status.state
        self._show_suggestion()

    async def jump_to_node(self, target: tuple[int, int] | None) -> None:
        """From the tree view: the draft as it was at request `target[0]`, alternative `target[1]`
        highlighted. A text no node holds (typed since) is first kept as a draft of its own."""
        history = self.keeper.history
        if target is None or (request := await self.keeper.read(history.request, target[0])) is None:
            return
        self.stop_requests()
        self.session.jumped()
        current = self.editor.text
        if request.draft_text != current:
            if current.strip() and not await self.keeper.read(history.is_node_text, self.keeper.draft_id, current):
                self.keeper.keep_as_new(current)
                self.notify("The text you had is kept as a draft of its own (Ctrl+O)")
            self.editor.load_own(request.draft_text)
        self.editor.move_cursor(self.editor.location_of(request.cursor))
        cards = tuple((a.text, a.finish_reason) for a in request.alternatives)
        self.show_node(request.id, request.parent_choice_id, cards, target[1])
