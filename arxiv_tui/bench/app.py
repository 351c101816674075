"""`arxiv-tui bench --app`: the real app in a pseudo-terminal against headless generation.

Headless: the engine alone in its own process (the child the app uses, with nothing drawing)
runs the request: the draft, N alternatives, K new tokens, the app's sampling. App: `arxiv-tui`
starts on a 130×45 pty with its own data and config directories and that draft; the benchmark
presses Ctrl+R and times, from the key's bytes to the frame whose status bar reads "idle" again,
what the writer waits for. The two take turns, request by request, so the drift of a shared
machine weighs on both alike. Then it types letters while alternatives stream and times each
from its bytes to the frame that shows it, and a few more at rest. Memory is the app's whole
process tree with the model loaded.
"""

from __future__ import annotations

import os
import queue
import re
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from unittest.mock import patch

from arxiv_tui.bench.engine import LONG_PROMPT
from arxiv_tui.bench.terminal import Terminal

COLUMNS, ROWS = 130, 45
DEBOUNCE_S = 0.1
MARKER = "Zqxjv"  # the draft's last line starts with it: typed letters are found right after it
TYPED = "abcdefghiklmnoprstuvw"
_STATUS = re.compile(r"│ (idle|generating|loading)(?: │ first token (\d+) ms)?(?: │ (\d+) tok/s)?")


def bench_draft(tokens: int, tokenizer) -> str:
    """About `tokens` tokens of abstract-like text, then a line the typed letters extend."""
    ids = tokenizer(LONG_PROMPT * (1 + tokens // 300), add_special_tokens=False)["input_ids"][:tokens]
    return tokenizer.decode(ids).rstrip() + "\n" + MARKER


class Headless:
    """The engine alone in its own process (the same child the app uses), driven directly."""

    def __init__(self, directory: str, precision: str, n: int, k: int, api_base: str = "") -> None:
        """The engine's process on `directory`; with `api_base`, the server the app would use."""
        from arxiv_tui.runtime.engine_client import EngineClient
        from arxiv_tui.runtime.remote.client import RemoteClient
        from arxiv_tui.runtime.settings import GenerationSettings, SamplingParams
        from arxiv_tui.tui.config import Config

        c = Config()
        self.settings = GenerationSettings(
            n=n, max_new_tokens=k, sampling=SamplingParams(temperature=c.temperature, top_p=c.top_p, top_k=c.top_k)
        )
        self._events: queue.Queue = queue.Queue()
        self._process: EngineClient | RemoteClient = (
            RemoteClient(api_base, None, c.api_key_env, c.template, self._events.put)
            if api_base
            else EngineClient(directory, precision, c.template or None, n, self._events.put)
        )
        self._requests = 0
        self._next_event(timeout=300)  # loaded

    def _next_event(self, timeout: float = 120):
        from arxiv_tui.runtime.protocol import LoadFailed

        event = self._events.get(timeout=timeout)
        if isinstance(event, LoadFailed):
            raise OSError(event.error)
        return event

    def request(self, prompt: str) -> tuple[float, float, int]:
        """(seconds, first token seconds, tokens) of one request, from sending it to its end."""
        self._requests += 1
        started = time.perf_counter()
        self._process.generate(self._requests, prompt, self.settings)
        while not getattr(event := self._next_event(), "done", False):
            pass
        return time.perf_counter() - started, event.ttft_s, sum(event.tokens)

    def close(self) -> None:
        self._process.close()


class AppSession:
    """The app on a pty, driven by key bytes; figures read off its status bar."""

    def __init__(
        self, directory: str, precision: str, n: int, k: int, draft: str, home: Path, api_base: str = ""
    ) -> None:
        from arxiv_tui.store.history import History
        from arxiv_tui.tui.config import Config, save_config

        env = {"XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config")}
        with patch.dict(os.environ, env):  # the config and draft go where the app will look; ours stays
            config = Config(model=directory, precision=precision, n=n, max_new_tokens=k, debounce_s=DEBOUNCE_S)
            save_config(replace(config, api_base=api_base))
            history = History()
            history.new_draft(draft)
            history.close()
        self.terminal = Terminal([sys.executable, "-m", "arxiv_tui"], COLUMNS, ROWS, env)
        self.typed = ""  # letters typed after the marker so far

    def status(self) -> re.Match | None:
        return _STATUS.search(self.terminal.row(-2))

    def state(self) -> str | None:
        match = self.status()
        return match.group(1) if match else None

    def wait_for_request(self, before: str, timeout: float = 120) -> tuple[float, float | None, float | None]:
        """Wait until a request has run and ended; `before` is the status row from before it
        started (a fast request can begin and end within one frame, never showing "generating").
        Returns (when it ended, first token ms, tok/s) as shown."""
        seen_running = False

        def ended(_: Terminal) -> bool:
            nonlocal seen_running
            state = self.state()
            seen_running = seen_running or state == "generating"
            row = self.terminal.row(-2)
            return state == "idle" and "tok/s" in row and (seen_running or row != before)

        # Only frames that redraw the status row are parsed: cards streaming in are not looked at.
        finished = self.terminal.wait_until(ended, timeout, hints=(b"idle", b"generating"))
        status = self.status()
        assert status is not None  # `ended` saw it
        first, rate = status.group(2, 3)
        return finished, float(first) if first else None, float(rate) if rate else None

    def type_letter(self, typed: str) -> tuple[str, float]:
        """Type a letter after what was `typed`; (the letter, ms until the editor showed it).

        The letter is one the row does not already show after the marker: the ghost text of a
        suggestion sits right after the cursor and may begin with any letter."""
        row = self.terminal.find_row(MARKER + typed)
        now = self.terminal.row(row) if row is not None else ""
        letter = next(c for c in TYPED if MARKER + typed + c not in now)
        expected = MARKER + typed + letter

        def shown(terminal: Terminal) -> bool:
            nonlocal row
            if row is None or MARKER not in terminal.row(row):  # the editor scrolled: look again
                row = terminal.find_row(MARKER)
            return row is not None and expected in terminal.row(row)

        sent = self.terminal.write(letter.encode())
        return letter, self.terminal.wait_until(shown, 10) - sent

    def type_while_streaming(self, count: int) -> list[float]:
        """Seconds each of `count` letters took to show, each typed while alternatives stream."""
        terminal, latencies = self.terminal, []
        for i in range(count):
            before = terminal.row(-2)
            terminal.press("ctrl+r")
            # While alternatives stream (a tiny test model may finish before a frame shows it).
            terminal.wait_until(lambda t: self.state() == "generating" or t.row(-2) != before)  # noqa: B023 - called now
            time.sleep(0.02 * (i % 4))  # at different points of the stream
            latencies.append(self._type_and_settle())
        return latencies

    def type_at_rest(self, count: int) -> list[float]:
        """Seconds each of `count` letters took to show, typed with nothing streaming."""
        return [self._type_and_settle() for _ in range(count)]

    def _type_and_settle(self) -> float:
        """Type the next letter; returns the seconds it took to show, once the request it asked
        for (after the debounce) has ended."""
        before = self.terminal.row(-2)
        letter, latency = self.type_letter(self.typed)
        self.typed += letter
        self.wait_for_request(before)
        return latency


def interleaved(
    directory: str, precision: str, n: int, k: int, draft: str, runs: int, keys: int, api_base: str = ""
) -> dict:
    """Headless and app requests taken in turns, so a machine whose speed drifts (shared, noisy)
    weighs on both alike; then keys typed while streaming and at rest; see the module's docstring."""
    headless = Headless(directory, precision, n, k, api_base)
    try:
        headless.request(draft)  # fills the prompt cache, as the app's first request does
        with tempfile.TemporaryDirectory() as home:
            session = AppSession(directory, precision, n, k, draft, Path(home), api_base)
            with session.terminal as terminal:
                terminal.wait_until(lambda t: t.find_row(MARKER) is not None, 60)
                # The draft is not empty: the first request starts as soon as the model is ready.
                _, first_ttft, first_rate = session.wait_for_request(before="")
                alone: list[tuple[float, float, int]] = []
                totals: list[float] = []
                ttfts: list[float | None] = []
                rates: list[float | None] = []
                for _ in range(runs):
                    alone.append(headless.request(draft))
                    before = terminal.row(-2)
                    sent = terminal.press("ctrl+r")
                    ended, ttft, rate = session.wait_for_request(before)
                    totals.append(ended - sent)
                    ttfts.append(ttft)
                    rates.append(rate)
                streaming, resting = session.type_while_streaming(keys), session.type_at_rest(max(3, keys // 4))
                rss = terminal.process_tree_rss_mb()
                terminal.press("ctrl+q")
    finally:
        headless.close()
    seconds = statistics.median(a[0] for a in alone)
    return {
        "headless": {
            "median_s": round(seconds, 4),
            "ttft_ms": round(statistics.median(a[1] for a in alone) * 1000, 1),
            "tokens_per_s": round(statistics.median(a[2] for a in alone) / seconds, 1),
            "tokens": statistics.median(a[2] for a in alone),
        },
        "app": {
            "median_s": round(statistics.median(totals), 4),
            "ttft_ms": _median_shown(ttfts),
            "tokens_per_s_shown": _median_shown(rates),
            "first_request": {"ttft_ms": first_ttft, "tokens_per_s_shown": first_rate},
            "key_ms_streaming": _latencies(streaming),
            "key_ms_at_rest": _latencies(resting),
            "rss_mb": round(rss, 1),
        },
    }


def _latencies(seconds: list[float]) -> dict:
    ms = sorted(s * 1000 for s in seconds)
    return {"median": round(statistics.median(ms), 1), "worst": round(ms[-1], 1), "count": len(ms)}


def run_app_bench(
    directory: str, precision: str, n: int, k: int, draft_tokens: int, runs: int, keys: int, api_base: str = ""
) -> dict:
    """The app against the engine alone (or against the server at `api_base`, both drafting with
    it), in the same run; see the module's docstring. `directory`'s tokenizer sizes the draft."""
    from transformers import AutoTokenizer

    draft = bench_draft(draft_tokens, AutoTokenizer.from_pretrained(directory))
    measured = interleaved(directory, precision, n, k, draft, runs, keys, api_base)
    headless, app = measured["headless"], measured["app"]
    return {
        "settings": {
            "n": n,
            "max_new_tokens": k,
            "draft_tokens": draft_tokens,
            "runs": runs,
            "keys": keys,
            "debounce_s": DEBOUNCE_S,
            "terminal": f"{COLUMNS}x{ROWS}",
        },
        "headless": headless,
        "app": app,
        "app_over_headless": round(app["median_s"] / headless["median_s"], 3),
        "shown_rate_over_headless": round(app["tokens_per_s_shown"] / headless["tokens_per_s"], 3)
        if app["tokens_per_s_shown"]
        else None,
    }


def print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    s, h, a = report["settings"], report["headless"], report["app"]
    table = Table(
        title=f"the app: {s['n']} alternatives × {s['max_new_tokens']} tokens after a "
        f"{s['draft_tokens']}-token draft, median of {s['runs']} runs"
    )
    table.add_column("")
    table.add_column("headless engine", justify="right")
    table.add_column("app (Ctrl+R to last card, as drawn)", justify="right")
    table.add_row("request", f"{h['median_s']:.3f} s", f"{a['median_s']:.3f} s ({report['app_over_headless']}×)")
    table.add_row("tokens/s", f"{h['tokens_per_s']:.0f}", f"{a['tokens_per_s_shown'] or 0:.0f} shown")
    table.add_row(
        "first request after loading", "", f"first token {a['first_request']['ttft_ms']} ms, later {a['ttft_ms']} ms"
    )
    ks, kr = a["key_ms_streaming"], a["key_ms_at_rest"]
    table.add_row("key typed while streaming", "", f"{ks['median']:.0f} ms median, {ks['worst']:.0f} ms worst")
    table.add_row("key typed at rest", "", f"{kr['median']:.0f} ms median, {kr['worst']:.0f} ms worst")
    table.add_row("memory (process tree)", "", f"{a['rss_mb']:.0f} MB")
    Console().print(table)


def _median_shown(values: list[float | None]) -> float | None:
    """The median of the figures the status bar showed (a request too quick to show one has none)."""
    shown = [value for value in values if value is not None]
    return statistics.median(shown) if shown else None
