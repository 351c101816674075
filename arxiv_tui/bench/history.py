"""How the history's cost grows with its size: `python -m arxiv_tui.bench.history [--requests N]`.

Builds a history of N requests (3 alternatives each, 25 requests a draft, an acceptance in every
other one) through the public API, then times what the app does with it: opening the file, the
draft at start, one round of writes (a save, a request, its alternatives, a choice), the history
screen's list, a search, a draft's tree, and `PRAGMA quick_check`, against the same on an empty
history. Prints one JSON object; milliseconds are medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from arxiv_tui.store.history import History

WORDS = (
    "graph neural network model learning robust sparse attention kernel bound optimal "
    "convex stochastic gradient transformer policy agent reward latent diffusion"
).split()


def _text(seed: int, words: int = 24) -> str:
    return " ".join(WORDS[(seed * 7 + i * 13 + i * i) % len(WORDS)] for i in range(words)) + f" {seed}."


def fill_history(history: History, requests: int, per_draft: int = 25) -> None:
    """Write `requests` requests with 3 alternatives each, in drafts of `per_draft`, in one
    transaction; every other request records an acceptance."""
    with history.batch():
        for n in range(requests):
            if n % per_draft == 0:
                draft = history.new_draft(_text(n, 60), lease=False)
            request = history.add_request(draft, "m", _text(n), {"n": 3}, draft_text=_text(n), cursor=10)
            history.save_alternatives(request, [(_text(n + k, 12), 12, "length") for k in range(3)])
            if n % 2:
                history.add_choice(request, n % 3, _text(n, 3), "whole")


def write_round(history: History, draft: int, revision: int, n: int) -> int:
    """The writes of one pause in the app: a save, a request, its alternatives, a choice."""
    revision = history.save_draft(draft, _text(n, 80), revision).revision
    request = history.add_request(draft, "m", _text(n), {"n": 3})
    history.save_alternatives(request, [(_text(n + k, 12), 12, "length") for k in range(3)])
    history.add_choice(request, 0, "x", "word")
    return revision


def median_ms(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def write_cost_ms(history: History, rounds: int = 100) -> float:
    """Median milliseconds of one round of writes (see `write_round`)."""
    draft = history.new_draft("")
    state = {"revision": 0, "n": 0}

    def one() -> None:
        state["n"] += 1
        state["revision"] = write_round(history, draft, state["revision"], state["n"])

    return median_ms(one, rounds)


def measure(path: Path, requests: int) -> dict:
    history = History(path)
    start = time.perf_counter()
    fill_history(history, requests)
    built_s = time.perf_counter() - start
    history.close()
    opened = median_ms(lambda: History(path).close(), 5)
    history = History(path)
    result = {
        "requests": requests,
        "build_s": round(built_s, 1),
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "open_ms": opened,
        "open_draft_ms": median_ms(history.open_draft, 5),
        "write_round_ms": write_cost_ms(history),
        "drafts_ms": median_ms(history.drafts, 5),
        "search_ms": median_ms(lambda: history.search("graph kernel"), 5),
        "tree_ms": median_ms(lambda: history.tree(history.drafts(limit=2)[1].id), 5),
        "quick_check_ms": median_ms(lambda: history._read("PRAGMA quick_check"), 3),
    }
    history.close()
    return {key: round(value, 2) if isinstance(value, float) else value for key, value in result.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(
            json.dumps(
                {
                    "empty": measure(Path(folder) / "empty.db", 0),
                    "full": measure(Path(folder) / "full.db", args.requests),
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
