"""How a fine-tuning run shows its progress: a rich progress bar, or JSON lines with --json."""

from __future__ import annotations

import json
from dataclasses import asdict

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from trainer.train import StepReport


class JsonProgress:
    """One JSON object per line on stdout: {"event": "stage"|"step", ...}."""

    def stage(self, text: str) -> None:
        self._emit({"event": "stage", "stage": text})

    def step(self, report: StepReport) -> None:
        self._emit({"event": "step", **asdict(report)})

    def close(self) -> None:
        pass

    @staticmethod
    def _emit(payload: dict) -> None:
        print(json.dumps(payload), flush=True)


class BarProgress:
    """A progress bar on stderr with loss, learning rate, steps/s and ETA."""

    def __init__(self) -> None:
        self.console = Console(stderr=True)
        self._progress: Progress | None = None
        self._task = None

    def stage(self, text: str) -> None:
        # Only on a terminal: in a log, an error must stay the one line on stderr.
        if self._progress is None and self.console.is_terminal:
            self.console.print(f"[dim]…[/] {text}", soft_wrap=True)

    def step(self, report: StepReport) -> None:
        if self._progress is None:
            self._progress = Progress(
                TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.3f}  lr {task.fields[lr]:.2e}  {task.fields[rate]:.2f} steps/s"),
                TimeRemainingColumn(), console=self.console,
            )
            self._progress.start()
            self._task = self._progress.add_task("train", total=report.steps, completed=report.step - 1,
                                                 loss=report.loss, lr=report.lr, rate=report.steps_per_s)
        self._progress.update(self._task, completed=report.step, loss=report.loss, lr=report.lr,
                              rate=report.steps_per_s)
        if report.step >= report.steps:
            self.close()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class QuietProgress:
    """What the other processes of a distributed run show: nothing (the main one speaks)."""

    def stage(self, text: str) -> None:
        pass

    def step(self, report: StepReport) -> None:
        pass

    def close(self) -> None:
        pass


def progress_display(as_json: bool, quiet: bool = False) -> JsonProgress | BarProgress | QuietProgress:
    if quiet:
        return QuietProgress()
    return JsonProgress() if as_json else BarProgress()

