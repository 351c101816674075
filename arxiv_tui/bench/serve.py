"""`arxiv-tui bench --serve`: `serve` under 1, 4 and 8 concurrent clients against the engine alone.

The server runs as users run it (`arxiv-tui serve` in a process of its own); each client is a
thread with the official `openai` client streaming requests of N alternatives x K tokens one
after another. For every request: the time to its first text and to its end, as the client sees
them. The engine alone does the same requests in a process of its own, in the same run: at one
client the difference is what HTTP, JSON and SSE cost.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import threading
import time

from arxiv_tui.bench.engine import BENCH_PROMPT, in_child
from arxiv_tui.runtime.settings import GENERATION_DEFAULTS


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1), "p95_ms": round(p95 * 1000, 1)}


def _figures(ttfts: list[float], totals: list[float]) -> dict:
    return {"first_token": _percentiles(ttfts), "request": _percentiles(totals), "requests": len(totals)}


def engine_alone(directory: str, precision: str, n: int, k: int, requests: int, runtime: str = "auto") -> dict:
    """The engine's own times for the same requests, one after another; run in a child process."""
    from arxiv_tui.runtime.engine import Engine
    from arxiv_tui.runtime.settings import GenerationSettings

    engine = Engine.open(directory, precision, runtime=runtime)
    settings = GenerationSettings(n=n, max_new_tokens=k)
    ttfts, totals = [], []
    for i in range(requests + 1):
        started, first = time.perf_counter(), None
        for deltas in engine.stream(BENCH_PROMPT, settings):
            if first is None and any(d.text for d in deltas):
                first = time.perf_counter() - started
        if i:  # the first is a warm-up
            ttfts.append(first or 0.0)
            totals.append(time.perf_counter() - started)
    return _figures(ttfts, totals)


def _client(base: str, model: str, n: int, k: int, requests: int, ttfts: list[float], totals: list[float]) -> None:
    """`requests` streamed requests one after another, as one editor sends them."""
    import openai

    client = openai.OpenAI(base_url=base, api_key="unused", max_retries=0, timeout=600)
    d = GENERATION_DEFAULTS
    for _ in range(requests):
        started, first = time.perf_counter(), None
        stream = client.completions.create(
            model=model, prompt=BENCH_PROMPT, max_tokens=k, n=n, temperature=d.temperature, top_p=d.top_p,
            stream=True, extra_body={"top_k": d.top_k},
        )  # fmt: skip
        for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].text:
                first = time.perf_counter() - started
        ttfts.append(first or 0.0)
        totals.append(time.perf_counter() - started)


def _start_server(directory: str, precision: str, runtime: str) -> tuple[subprocess.Popen, str]:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    command = [sys.executable, "-m", "arxiv_tui", "serve", "--model", directory, "--precision", precision]
    command += ["--runtime", runtime]
    command += ["--port", str(port), "--max-waiting", "64"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    assert server.stderr is not None
    line = server.stderr.readline()  # "serving ... at URL" once loaded
    while line.startswith(("converting", "arxiv-tui: ")):  # a first conversion's bar, a fallback's notice
        line = server.stderr.readline()
    if "serving" not in line:
        server.kill()
        raise RuntimeError(f"serve did not start: {line.strip()}")
    threading.Thread(target=server.stderr.read, daemon=True).start()  # its log: drained, not shown
    return server, f"http://127.0.0.1:{port}/v1"


def run_serve_bench(
    directory: str, precision: str, n: int, k: int, requests: int, clients: list[int], runtime: str = "auto"
) -> dict:
    """The report: the engine alone, then `serve` with each number of concurrent clients."""
    alone = in_child(engine_alone, directory, precision, n, k, requests, runtime)
    server, base = _start_server(directory, precision, runtime)
    try:
        _client(base, directory, n, k, 1, [], [])  # warm-up; the server names its model as it was given
        served = {}
        for count in clients:
            ttfts: list[float] = []
            totals: list[float] = []
            threads = [
                threading.Thread(target=_client, args=(base, directory, n, k, requests, ttfts, totals))
                for _ in range(count)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            served[str(count)] = _figures(ttfts, totals)
    finally:
        server.terminate()
        server.wait(10)
    one = served.get("1")
    overhead = round(one["request"]["p50_ms"] / alone["request"]["p50_ms"] - 1, 3) if one else None
    return {
        "settings": {
            "n": n,
            "max_new_tokens": k,
            "requests_per_client": requests,
            "precision": precision,
            "runtime": runtime,
        },
        "engine_alone": alone,
        "serve": served,
        "http_overhead_one_client": overhead,
    }
