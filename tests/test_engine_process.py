"""The engine's child process: loading, streaming in batches, superseding, cancelling, scoring,
errors, and a process that dies; and the app driven through a real pseudo-terminal."""

from __future__ import annotations

import itertools
import json
import os
import queue
import signal
import sys
import threading
import time

from arxiv_tui.runtime import protocol as e
from arxiv_tui.runtime.engine_client import EngineClient
from arxiv_tui.runtime.settings import (
    FINISH_CANCELLED,
    FINISH_LENGTH,
    GenerationSettings,
)
from arxiv_tui.runtime.streaming import BATCH_S, Inbox, run_generation


class Events:
    """An EngineClient with its events on a queue."""

    def __init__(self, model, precision: str = "fp32", n: int = 2) -> None:
        self.queue: queue.Queue = queue.Queue()
        self.process = EngineClient(str(model), precision, "arXiv Abstract: ", n, self.queue.put)

    def next(self, kind, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while True:
            event = self.queue.get(timeout=max(deadline - time.monotonic(), 0.01))
            if isinstance(event, kind):
                return event

    def until_done(self, request_id: int) -> list[e.Progress]:
        progress = []
        while not (progress and progress[-1].done):
            event = self.next(e.Progress)
            if event.request_id == request_id:
                progress.append(event)
        return progress


def test_streams_a_request_in_batches_and_scores(trained_model):
    engine = Events(trained_model)
    try:
        loaded = engine.next(e.Loaded)
        assert loaded.precision == "fp32" and loaded.context_length == 128 and len(loaded.token_table) > 256
        engine.process.generate(1, "We propose", GenerationSettings(n=2, max_new_tokens=10, seed=3))
        progress = engine.until_done(1)
        texts = ["", ""]
        for event in progress:
            for delta in event.deltas:
                texts[delta.index] += delta.text
        assert progress[-1].tokens and all(0 < t <= 10 for t in progress[-1].tokens) and all(texts)
        engine.process.score("We propose a method.")
        scored = engine.next(e.Scored)
        assert scored.scores.text == "We propose a method." and scored.scores.tokens
    finally:
        engine.process.close()
    assert engine.process.exit_code is not None  # closed: the process has ended


def test_a_new_request_stops_the_running_one_and_cancel_stops_at_once(endless_model):
    engine = Events(endless_model)
    try:
        engine.next(e.Loaded)
        settings = GenerationSettings(n=2, max_new_tokens=900)
        engine.process.generate(1, "W", settings)
        engine.next(e.Progress)  # it runs
        engine.process.generate(2, "We", settings)
        first = engine.until_done(1)
        assert {d.finish_reason for d in first[-1].deltas if d.finish_reason} <= {FINISH_CANCELLED}
        assert sum(first[-1].tokens) < 2 * 900
        engine.next(e.Progress)  # the second runs
        engine.process.cancel()
        second = engine.until_done(2)
        assert sum(second[-1].tokens) < 2 * 900  # stopped, not run to its end
        assert FINISH_CANCELLED in {d.finish_reason for event in second for d in event.deltas}
    finally:
        engine.process.close()


def test_a_model_that_cannot_load_is_one_event(tmp_path):
    engine = Events(tmp_path / "missing")
    event = engine.next(e.LoadFailed)
    assert "missing" in event.error
    engine.process.close()  # returns once the process has ended and its reader has seen the end
    assert engine.queue.empty()  # its process ending then is no crash to report


async def test_the_app_restarts_a_killed_engine_and_keeps_the_text(trained_model):
    from tests.helpers import make_app, notices, type_and_wait, wait_for

    app = make_app(trained_model, n=2, max_new_tokens=6)
    async with app.run_test() as pilot:
        await type_and_wait(pilot, app, "We")
        os.kill(app.drafting.engine.pid, signal.SIGKILL)
        await wait_for(pilot, lambda: "restarting" in notices(app))
        await wait_for(pilot, lambda: app.drafting.engine is not None, 60)
        assert app.drafting.editor.text == "We"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.drafting.status.state == "idle" and all(app.drafting.panel.texts()))


def test_a_killed_engine_is_reported(trained_model):
    engine = Events(trained_model)
    engine.next(e.Loaded)
    os.kill(engine.process.pid, signal.SIGKILL)
    assert engine.next(e.EngineStopped).exit_code == -9
    engine.process.close()


def test_batches_come_at_most_every_batch_interval(engine_factory, endless_model):
    """Tokens come ~100 a second or more; the UI hears of the first at once, then of them ~10
    times a second."""
    engine = engine_factory(endless_model)
    sent, times = [], []
    request = e.Generate(1, "W", GenerationSettings(n=3, max_new_tokens=300))
    run_generation(
        engine, request, threading.Event(), lambda event: (sent.append(event), times.append(time.perf_counter()))
    )
    assert sent[-1].done and sent[-1].tokens == [300, 300, 300]
    assert all(d.finish_reason == FINISH_LENGTH for d in sent[-1].deltas if d.finish_reason)
    first = [d.index for d in sent[0].deltas]
    assert first and len(first) == len(set(first))  # the first text at once: one step's deltas, not a batch
    gaps = [b - a for a, b in itertools.pairwise(times[:-1])]  # the last event, `done`, may follow at once
    assert gaps and min(gaps) >= BATCH_S * 0.9
    assert len(sent) <= (times[-1] - times[0]) / BATCH_S + 2


def test_inbox_keeps_only_the_newest_waiting_generation():
    inbox = Inbox()
    score = e.Score("x")
    inbox.put(e.Generate(1, "a", GenerationSettings()))
    first, first_cancel = inbox.take()
    inbox.put(e.Generate(2, "b", GenerationSettings()))
    inbox.put(score)
    inbox.put(e.Generate(3, "c", GenerationSettings()))
    assert first.request_id == 1 and first_cancel.is_set()  # superseded while running
    assert inbox.take()[0] is score
    newest, cancel = inbox.take()
    assert newest.request_id == 3 and not cancel.is_set()  # 2 was dropped before it started
    inbox.put(e.Cancel())
    assert cancel.is_set()
    inbox.close()
    assert inbox.take() is None


def test_the_app_in_a_terminal_keys_screens_and_quit(trained_model, user_dirs):
    """The real app on a pseudo-terminal, driven by the bytes a terminal sends."""
    from arxiv_tui.bench.terminal import Terminal
    from arxiv_tui.store.history import History
    from arxiv_tui.tui.config import Config, save_config

    save_config(Config(model=str(trained_model), precision="fp32", n=3, max_new_tokens=8, debounce_s=0.05))
    with Terminal([sys.executable, "-m", "arxiv_tui"], 100, 30) as terminal:
        terminal.wait_until(lambda t: "idle" in t.row(-2), 60)
        terminal.write(b"We propose")
        terminal.wait_until(lambda t: "tok ·" in t.text(), 30)
        # The first card's start shows after the cursor as ghost text (only its row is redrawn).
        terminal.wait_until(lambda t: _ghost(t) and _card_text(t, 1).startswith(_ghost(t)), 10)
        terminal.press("ctrl+o")
        terminal.wait_until(lambda t: "We propose" in t.text() and "Search" in t.text(), 10)
        terminal.press("escape")
        terminal.press("f1")
        terminal.wait_until(lambda t: "arxiv-tui" in t.text() and "Editor" in t.text(), 10)
        terminal.press("ctrl+g")
        terminal.wait_until(lambda t: "Editor" not in t.text(), 10)
        terminal.press("ctrl+q")
        assert terminal.close() == 0
    assert History().drafts(limit=1)[0].text == "We propose"


def _ghost(terminal) -> str:
    """What the editor shows after the typed text, up to its border."""
    row = terminal.row(terminal.find_row("We propose"))
    return row.split("We propose", 1)[1].strip(" │")


def _card_text(terminal, number: int) -> str:
    """The first row of card `number`'s text."""
    return terminal.row(terminal.find_row(f"─ {number} ─") + 1).strip(" │")


def test_bench_app_reports_the_app_against_headless(trained_model):
    import subprocess

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "arxiv_tui",
            "bench",
            "--app",
            "--model",
            str(trained_model),
            "-n",
            "2",
            "--max-new-tokens",
            "6",
            "--runs",
            "1",
            "--keys",
            "2",
            "--precision",
            "fp32",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    app, headless = report["app"], report["headless"]
    assert app["median_s"] > 0 and headless["median_s"] > 0 and report["app_over_headless"] > 0
    assert app["key_ms_streaming"]["count"] == 2 and app["key_ms_at_rest"]["count"] >= 3
    assert app["rss_mb"] > 50


def test_a_draft_prefilled_while_loading_is_reused_by_the_first_request(engine_factory, trained_model):
    engine = engine_factory(trained_model)
    draft = "We propose a new method for graph learning."
    engine.prefill(draft, max_new_tokens=8)
    engine.generate(draft + " Our", GenerationSettings(n=2, max_new_tokens=8, seed=1))
    assert engine.last_prefill_tokens <= 3  # only the appended word, not the whole draft
