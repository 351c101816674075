"""`arxiv-tui bench`: the engine against stock transformers `generate`, in the same run.

Both sides generate exactly K new tokens for each of N alternatives from the same prompt with
the same sampling (temperature, top-k, top-p). Each side runs in its own child process, so
its peak memory is its own and one side's allocations do not slow the other; each does one
warm-up run, then `--runs` timed ones, and reports medians. The ratio is baseline median /
engine median.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from arxiv_tui.cli import CommandError, add_model_option, add_precision_option, positive_int
from arxiv_tui.settings import DEFAULT_MODEL, DEFAULT_TEMPLATE

BENCH_PROMPT = "We propose a novel method for learning graph representations with transformers"
# ~300 tokens, and the few words then appended to it, for the prefix-reuse figures.
LONG_PROMPT = " ".join([BENCH_PROMPT + " on large sparse benchmarks, and we show that it"] * 14)
APPENDED = " outperforms strong baselines"
CONFIDENCE_TOKENS = 250  # a long abstract, scored by the confidence view
# Held-out text for comparing a precision's next-token distributions with fp32's.
HELD_OUT = (
    "Large language models are increasingly deployed on devices with limited memory and no "
    "accelerator. We study how far weight quantization and careful caching can reduce the cost "
    "of autoregressive decoding on commodity processors. Our analysis shows that decoding is "
    "bound by memory bandwidth rather than arithmetic, so the number of bytes read per token "
    "determines the speed. Based on this observation, we design a runtime that prepacks weights, "
    "reuses the key-value cache across requests, and samples without sorting the vocabulary. "
    "Experiments on summarization and code completion show a fivefold speedup at equal quality."
)


def add_command(commands) -> None:
    parser = commands.add_parser(
        "bench", help="time the engine against transformers' generate",
        description="Time the engine against stock transformers generate (fp32) in the same run.",
    )
    add_model_option(parser)
    parser.add_argument("-n", type=positive_int, default=3, help="alternatives (default 3)")
    parser.add_argument("--max-new-tokens", type=positive_int, default=100, metavar="K")
    parser.add_argument("--runs", type=positive_int, default=5, metavar="R")
    add_precision_option(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    app = parser.add_argument_group("the app (--app)")
    app.add_argument("--app", action="store_true",
                     help="drive the real app in a pseudo-terminal and compare it with headless generation")
    app.add_argument("--draft-tokens", type=positive_int, default=20, metavar="T",
                     help="length of the draft the app continues (default 20)")
    app.add_argument("--keys", type=positive_int, default=20, metavar="K",
                     help="letters typed while alternatives stream (default 20)")
    parser.set_defaults(run=run)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _summary(times: list[float], ttfts: list[float], tokens: int) -> dict:
    median = statistics.median(times)
    return {
        "median_s": round(median, 4),
        "ttft_s": round(statistics.median(ttfts), 4),
        "tokens_per_s": round(tokens / median, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def engine_side(directory: str, precision: str, n: int, k: int, runs: int) -> dict:
    """Time the engine; run in a child process."""
    from arxiv_tui.engine import Engine, GenerationSettings
    from arxiv_tui.sampling import SamplingParams

    engine = Engine.open(directory, precision)
    settings = GenerationSettings(n=n, max_new_tokens=k, sampling=SamplingParams(), ignore_eos=True)

    def timed(prompt: str, cold: bool) -> tuple[float, float]:
        if cold:
            engine.forget_prompt()
        started = time.perf_counter()
        first = None
        for _ in engine.stream(prompt, settings):
            first = first if first is not None else time.perf_counter() - started
        return time.perf_counter() - started, first

    timed(BENCH_PROMPT, cold=True)  # warm-up
    results = [timed(BENCH_PROMPT, cold=True) for _ in range(runs)]
    summary = _summary([r[0] for r in results], [r[1] for r in results], n * k)
    long_cold, long_reuse = [], []
    for _ in range(runs):
        long_cold.append(timed(LONG_PROMPT, cold=True)[1])
        long_reuse.append(timed(LONG_PROMPT + APPENDED, cold=False)[1])
    summary["ttft_long_prompt_s"] = round(statistics.median(long_cold), 4)
    summary["ttft_after_append_s"] = round(statistics.median(long_reuse), 4)
    summary["long_prompt_tokens"] = len(engine.prompt_ids(LONG_PROMPT, k))
    summary.update(_confidence_figures(engine, runs))
    summary["precision"] = engine.loaded.precision
    return summary


def _confidence_figures(engine, runs: int) -> dict:
    """The confidence view's pass over a 250-token draft: from scratch, and after appending."""
    draft = engine.loaded.tokenizer.decode(engine.encode(LONG_PROMPT)[:CONFIDENCE_TOKENS])
    cold, appended = [], []
    for _ in range(runs):
        engine.forget_prompt()
        engine.forget_scores()
        started = time.perf_counter()
        engine.score(draft)
        cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        engine.score(draft + APPENDED)
        appended.append(time.perf_counter() - started)
    return {"confidence_tokens": CONFIDENCE_TOKENS, "confidence_s": round(statistics.median(cold), 4),
            "confidence_after_append_s": round(statistics.median(appended), 4)}


def baseline_side(directory: str, n: int, k: int, runs: int) -> dict:
    """Time transformers' own `generate` in fp32; run in a child process."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessor, LogitsProcessorList

    class FirstCall(LogitsProcessor):
        """Notes when the first token's logits are ready: the baseline's time to first token."""

        def __init__(self) -> None:
            self.at: float | None = None

        def __call__(self, input_ids, scores):
            self.at = self.at or time.perf_counter()
            return scores

    from transformers.utils import logging

    logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()
    inputs = tokenizer(DEFAULT_TEMPLATE + BENCH_PROMPT, return_tensors="pt")
    eos = tokenizer.eos_token_id

    def timed() -> tuple[float, float]:
        first = FirstCall()
        started = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                **inputs, do_sample=True, temperature=0.8, top_k=50, top_p=0.9,
                num_return_sequences=n, max_new_tokens=k, min_new_tokens=k,
                pad_token_id=eos, logits_processor=LogitsProcessorList([first]),
            )
        assert out.shape[1] - inputs["input_ids"].shape[1] == k
        return time.perf_counter() - started, first.at - started

    timed()  # warm-up
    results = [timed() for _ in range(runs)]
    return _summary([r[0] for r in results], [r[1] for r in results], n * k)


def fidelity_side(directory: str, precision: str) -> dict:
    """How close `precision`'s next-token distributions are to fp32's on held-out text."""
    import torch

    from arxiv_tui.loader import load_model

    def log_probs(which: str) -> torch.Tensor:
        loaded = load_model(Path(directory), which)
        ids = loaded.tokenizer(DEFAULT_TEMPLATE + HELD_OUT, return_tensors="pt")["input_ids"]
        ids = ids[:, : loaded.context_length]
        with torch.inference_mode():
            cache = loaded.model.new_cache(1, ids.shape[1])
            return loaded.model(ids, cache, all_positions=True)[0].log_softmax(-1)

    reference, tested = log_probs("fp32"), log_probs(precision)
    kl = (reference.exp() * (reference - tested)).sum(-1)
    agree = (reference.argmax(-1) == tested.argmax(-1)).float()
    return {"kl_mean": float(kl.mean()), "top1_agreement": round(float(agree.mean()), 4), "tokens": len(kl)}


def _in_child(function, *args) -> dict:
    """Run `function(*args)` in a fresh process and return its result."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def run(args: argparse.Namespace) -> int:
    from arxiv_tui.models import resolve_model

    directory = str(resolve_model(args.model or DEFAULT_MODEL))
    n, k, runs = args.n, args.max_new_tokens, args.runs
    if args.app:
        return _run_app_bench(directory, args)
    try:
        engine = _in_child(engine_side, directory, args.precision, n, k, runs)
        baseline = _in_child(baseline_side, directory, n, k, runs)
        fidelity = _in_child(fidelity_side, directory, engine["precision"])
    except Exception as exc:
        raise CommandError(f"benchmark failed: {exc}") from None
    report = {
        "settings": {
            "model": args.model or DEFAULT_MODEL, "n": n, "max_new_tokens": k, "runs": runs,
            "temperature": 0.8, "top_k": 50, "top_p": 0.9, "prompt": BENCH_PROMPT,
            "precision": engine.pop("precision"),
            "long_prompt_tokens": engine.pop("long_prompt_tokens"),
        },
        "engine": engine,
        "baseline": baseline,
        "ratio": round(baseline["median_s"] / engine["median_s"], 2),
        "fidelity_vs_fp32": fidelity,
    }
    if args.json:
        print(json.dumps(report))
    else:
        _print_table(report)
    return 0


def _run_app_bench(directory: str, args: argparse.Namespace) -> int:
    from arxiv_tui import bench_app

    try:
        report = bench_app.run_app_bench(directory, args.precision, args.n, args.max_new_tokens,
                                         args.draft_tokens, args.runs, args.keys)
    except (TimeoutError, OSError) as exc:
        raise CommandError(f"app benchmark failed: {exc}") from None
    if args.json:
        print(json.dumps(report))
    else:
        bench_app.print_report(report)
    return 0


def _print_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    s = report["settings"]
    table = Table(title=f"{s['n']} alternatives × {s['max_new_tokens']} new tokens, median of {s['runs']} runs")
    table.add_column("")
    table.add_column(f"engine ({s['precision']})", justify="right")
    table.add_column("transformers generate (fp32)", justify="right")
    e, b = report["engine"], report["baseline"]
    table.add_row("total", f"{e['median_s']:.3f} s", f"{b['median_s']:.3f} s")
    table.add_row("time to first token", f"{e['ttft_s'] * 1000:.1f} ms", f"{b['ttft_s'] * 1000:.1f} ms")
    table.add_row("tokens/s (all alternatives)", f"{e['tokens_per_s']:.0f}", f"{b['tokens_per_s']:.0f}")
    table.add_row("peak memory", f"{e['peak_rss_mb']:.0f} MB", f"{b['peak_rss_mb']:.0f} MB")
    console = Console()
    console.print(table)
    console.print(f"engine is [bold]{report['ratio']}×[/bold] faster; "
                  f"first token after a {s['long_prompt_tokens']}-token prompt: "
                  f"{e['ttft_long_prompt_s'] * 1000:.0f} ms cold, "
                  f"{e['ttft_after_append_s'] * 1000:.0f} ms after appending a few words (cache reused)")
    console.print(f"confidence view over a {e['confidence_tokens']}-token draft: {e['confidence_s'] * 1000:.0f} ms, "
                  f"{e['confidence_after_append_s'] * 1000:.0f} ms after appending a few words")
    f = report["fidelity_vs_fp32"]
    console.print(f"{s['precision']} against fp32 on {f['tokens']} held-out tokens: mean KL "
                  f"{f['kl_mean']:.2e}, top-1 agreement {f['top1_agreement']:.1%}")
