"""The status bar: model, precision, state, and the last request's speed."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Static


class StatusBar(Static):
    """One line at the bottom of the screen."""

    model: reactive[str] = reactive("")
    precision: reactive[str] = reactive("")
    state: reactive[str] = reactive("loading")
    ttft_ms: reactive[float | None] = reactive(None)
    tokens_per_s: reactive[float | None] = reactive(None)

    def render(self) -> str:
        parts = [f"model {self.model}"]
        if self.precision:
            parts.append(self.precision)
        parts.append(self.state)
        if self.ttft_ms is not None:
            parts.append(f"first token {self.ttft_ms:.0f} ms")
        if self.tokens_per_s is not None:
            parts.append(f"{self.tokens_per_s:.0f} tok/s")
        return " │ ".join(parts)
