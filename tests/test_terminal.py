"""The pseudo-terminal the app's benchmark and terminal tests read the app through."""

from __future__ import annotations

import sys
import time

import pytest

from arxiv_tui.bench.terminal import Terminal

# Writes "one" and "two", then "idle" once a line is typed; each line says when it was written.
SCRIPT = """
import sys, time
for word in ("one", "two", "idle"):
    if word == "idle":
        sys.stdin.readline()
    time.sleep(0.3)
    sys.stdout.write(f"{word} {time.perf_counter():.6f}\\r\\n")
    sys.stdout.flush()
time.sleep(30)
"""


def test_a_wait_with_hints_parses_output_once_a_hint_arrives_and_times_its_arrival():
    with Terminal([sys.executable, "-c", SCRIPT], 60, 6) as terminal:
        terminal.wait_until(lambda t: "one" in t.row(0), 10)
        # "two" arrives, but holds no hint: it waits unparsed, so this wait never sees it.
        with pytest.raises(TimeoutError):
            terminal.wait_until(lambda t: "two" in t.row(1), 0.45, hints=(b"idle",))
        terminal.write(b"\r")  # only now does "idle" come (below the echoed line): the wait above missed it
        arrived = terminal.wait_until(lambda t: t.find_row("idle") is not None, 10, hints=(b"idle",))
        waited = time.perf_counter()
        written = float(terminal.row(terminal.find_row("idle")).split()[1])
        assert "two" in terminal.row(1)  # what came before the hint is on the screen too
        assert written <= arrived <= waited  # the time it arrived, not the time it was parsed
