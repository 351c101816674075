"""The pseudo-terminal the app's benchmark and terminal tests read the app through."""

from __future__ import annotations

import sys
import time

import pytest

from arxiv_tui.bench.terminal import Terminal

# Writes "one", then "two" and "idle" 0.3 s apart; the last line also says when it was written.
SCRIPT = """
import sys, time
for word in ("one", "two", "idle"):
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
        arrived = terminal.wait_until(lambda t: "idle" in t.row(2), 10, hints=(b"idle",))
        waited = time.perf_counter()
        written = float(terminal.row(2).split()[1])
        assert "two" in terminal.row(1)  # what came before the hint is on the screen too
        assert written <= arrived < written + 0.05 and arrived <= waited
