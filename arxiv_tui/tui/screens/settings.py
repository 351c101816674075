"""The settings dialog: generation settings and the model, saved to the config file."""

from __future__ import annotations

from dataclasses import replace

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, Switch

from arxiv_tui.tui.config import Config

# field name, label, type
FIELDS = [
    ("n", "Alternatives", int),
    ("temperature", "Temperature", float),
    ("top_p", "Top-p", float),
    ("top_k", "Top-k (0 = off)", int),
    ("max_new_tokens", "Max new tokens", int),
    ("debounce_s", "Pause before suggesting (s)", float),
    ("model", "Model", str),
    ("precision", "Precision", str),
    ("runtime", "Runtime", str),
]


def _model_names() -> list[str]:
    """What the model field completes to: the default, then fine-tuned models (`arxiv-tui finetune`)."""
    from arxiv_tui.runtime.registry import ModelError, registered_models
    from arxiv_tui.runtime.settings import DEFAULT_MODEL

    try:
        return [DEFAULT_MODEL, *registered_models()]
    except ModelError:
        return [DEFAULT_MODEL]


class SettingsScreen(ModalScreen[Config | None]):
    """Edit the settings; Save returns the new Config, Esc returns None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config

    def compose(self) -> ComposeResult:
        with Vertical(id="settings"):
            with Grid(id="settings-grid"):
                for name, label, _ in FIELDS:
                    yield Label(label)
                    suggester = SuggestFromList(_model_names(), case_sensitive=False) if name == "model" else None
                    yield Input(str(getattr(self.config, name)), id=f"set-{name}", suggester=suggester)
                yield Label("Stop at sentence end")
                yield Switch(self.config.stop_at_sentence, id="set-stop_at_sentence")
            yield Label("", id="settings-error")
            with Horizontal(id="settings-buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_save() if event.button.id == "save" else self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        values = {}
        for name, label, kind in FIELDS:
            text = self.query_one(f"#set-{name}", Input).value.strip()
            try:
                values[name] = kind(text)
            except ValueError:
                self.query_one("#settings-error", Label).update(f"{label}: {text!r} is not a valid {kind.__name__}")
                return
        values["stop_at_sentence"] = self.query_one("#set-stop_at_sentence", Switch).value
        try:
            config = replace(self.config, **values).validated()
        except ValueError as exc:
            self.query_one("#settings-error", Label).update(str(exc))
            return
        self.dismiss(config)

    DEFAULT_CSS = """
    SettingsScreen { align: center middle; }
    #settings { width: 70; height: auto; border: round $accent; padding: 1 2; background: $surface; }
    #settings-grid { grid-size: 2; grid-columns: 30 1fr; grid-rows: 3; height: auto; }
    #settings-grid Label { padding: 1 0; }
    #settings-error { color: $error; height: auto; }
    #settings-buttons { height: auto; align: right middle; }
    """
