"""How a fine-tuning run shows its progress: a rich progress bar, or JSON lines with --json."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from arxiv_tui.trainer.data.prepared import PrepareReport
from arxiv_tui.trainer.training.loop import StepReport

JSON_PREPARE_EVERY_S = 0.5  # a log line per half second is plenty for a stage of minutes


class JsonProgress:
    """One JSON object per line on stdout: {"event": "stage"|"step"|"prepare", ...}."""

    _last_prepare = 0.0  # when the last "prepare" line went out (monotonic seconds)

    def stage(self, text: str) -> None:
        self._emit({"event": "stage", "stage": text})

    def step(self, report: StepReport) -> None:
        self._emit({"event": "step", **asdict(report)})

    def prepare(self, report: PrepareReport) -> None:
        now = time.monotonic()
        finished = report.total is not None and report.done >= report.total
        if finished or now - self._last_prepare >= JSON_PREPARE_EVERY_S:
            self._last_prepare = now
            self._emit({"event": "prepare", **asdict(report)})

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
        self._task = TaskID(0)  # set with the progress bar it belongs to
        self._stage = ""  # of preparation

    def prepare(self, report: PrepareReport) -> None:
        """Reading the source (bytes or records), tokenizing and indexing (texts): count, rate, time left.
        Only on a terminal, as `stage`."""
        if not self.console.is_terminal:
            return
        if report.stage != self._stage:
            self.close()
            self._stage = report.stage
            if report.unit == "bytes":
                counts = [DownloadColumn(), TransferSpeedColumn()]
            else:
                counts = [MofNCompleteColumn(), TextColumn(f"{{task.fields[rate]}} {report.unit}/s")]
            self._progress = Progress(
                TextColumn(report.stage), BarColumn(), *counts, TimeRemainingColumn(), console=self.console
            )
            self._progress.start()
            self._task = self._progress.add_task(report.stage, total=report.total, rate="-")
        assert self._progress is not None
        speed = self._progress.tasks[0].speed  # rich's own moving estimate
        self._progress.update(
            self._task, completed=report.done, total=report.total, rate=f"{speed:,.0f}" if speed else "-"
        )
        if report.total is not None and report.done >= report.total and report.stage == "indexing":
            self.close()

    def stage(self, text: str) -> None:
        # Only on a terminal: in a log, an error must stay the one line on stderr.
        if self._progress is None and self.console.is_terminal:
            self.console.print(f"[dim]…[/] {text}", soft_wrap=True)

    def step(self, report: StepReport) -> None:
        if self._progress is None:
            self._progress = Progress(
                TextColumn("training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.3f}  lr {task.fields[lr]:.2e}  {task.fields[rate]:.2f} steps/s"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                "train",
                total=report.steps,
                completed=report.step - 1,
                loss=report.loss,
                lr=report.lr,
                rate=report.steps_per_s,
            )
        assert self._progress is not None
        self._progress.update(
            self._task, completed=report.step, loss=report.loss, lr=report.lr, rate=report.steps_per_s
        )
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

    def prepare(self, report: PrepareReport) -> None:
        pass

    def close(self) -> None:
        pass


def progress_display(as_json: bool, quiet: bool = False) -> JsonProgress | BarProgress | QuietProgress:
    if quiet:
        return QuietProgress()
    return JsonProgress() if as_json else BarProgress()
