"""`arxiv-tui bench --api-base URL`: a completion server's speed as the app sees it.

The same requests as `bench` sends the engine (N alternatives x K tokens of the bench prompt,
the app's sampling), through the client the app drafts with: time to first text and to the end,
medians of `runs` after one warm-up. There is no baseline: the model runs elsewhere.
"""

from __future__ import annotations

import statistics
import threading
import time

from arxiv_tui.bench.engine import BENCH_PROMPT
from arxiv_tui.runtime.settings import GenerationSettings


def remote_side(api_base: str, api_model: str | None, n: int, k: int, runs: int) -> dict:
    from arxiv_tui.runtime.remote.run import RemoteRun
    from arxiv_tui.runtime.remote.servers import open_server

    server = open_server(api_base, api_model)
    settings = GenerationSettings(n=n, max_new_tokens=k)

    def timed() -> tuple[float, float, int]:
        started, first = time.perf_counter(), None
        run = RemoteRun(server, BENCH_PROMPT, settings, threading.Event())
        for deltas in run:
            if first is None and any(d.text for d in deltas):
                first = time.perf_counter() - started
        pieces = sum(len(alt.tokens) for alt in run.alternatives)
        return time.perf_counter() - started, first or 0.0, pieces

    timed()  # warm-up: the connection, the server's prompt cache
    results = [timed() for _ in range(runs)]
    median = statistics.median(r[0] for r in results)
    return {
        "server": server.name,
        "model": server.model,
        "median_s": round(median, 4),
        "ttft_s": round(statistics.median(r[1] for r in results), 4),
        "pieces_per_s": round(statistics.median(r[2] for r in results) / median, 1),
    }
