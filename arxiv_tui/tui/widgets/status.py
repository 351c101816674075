"""The status bar: model, precision, state, the last request's speed, and the draft against
arXiv's limits (its paper's file, when it has one)."""

from __future__ import annotations

from pathlib import Path

from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from arxiv_tui.latex import Count, count, latex_problems


def model_label(model: str) -> str:
    """A model as the status bar names it: a local directory by its own name (a long path would
    push the state and speed off a narrow terminal), a Hub id or registered name as it is."""
    if " @ " in model:  # a server's model and its address
        name, server = model.split(" @ ", 1)
        return f"{model_label(name)} @ {server}"
    path = Path(model)
    return path.name if path.is_absolute() or model.startswith((".", "~")) else model


class StatusBar(Static):
    """One line at the bottom of the screen."""

    model: reactive[str] = reactive("")
    precision: reactive[str] = reactive("")
    state: reactive[str] = reactive("loading")
    ttft_ms: reactive[float | None] = reactive(None)
    tokens_per_s: reactive[float | None] = reactive(None)
    count: reactive[Count] = reactive(Count(0, 0))
    problems: reactive[tuple[str, ...]] = reactive(())  # LaTeX arXiv would reject
    file: reactive[str] = reactive("")  # the paper's name
    unsaved: reactive[bool] = reactive(False)  # changes not yet written to the paper

    def show_text(self, text: str, paper_text: str | None) -> None:
        """The draft's length and LaTeX against arXiv's rules; unsaved if it differs from `paper_text`."""
        self.count, self.problems = count(text), tuple(latex_problems(text))
        self.unsaved = paper_text is not None and text != paper_text

    def render(self) -> Content:
        parts: list[str | tuple[str, str]] = []
        if self.file:
            parts.append((f"{self.file}{' (unsaved)' if self.unsaved else ''}", "bold" if self.unsaved else ""))
        parts.append((self.count.describe(), "bold $error" if self.count.over else ""))
        parts += [(problem, "bold $warning") for problem in self.problems]
        parts.append(f"model {model_label(self.model)}")
        if self.precision:
            parts.append(self.precision)
        parts.append(self.state)
        if self.ttft_ms is not None:
            parts.append(f"first token {self.ttft_ms:.0f} ms")
        if self.tokens_per_s is not None:
            parts.append(f"{self.tokens_per_s:.0f} tok/s")
        joined: list[str | tuple[str, str]] = []
        for part in parts:
            joined += [" │ ", part] if joined else [part]
        return Content.assemble(*joined)
