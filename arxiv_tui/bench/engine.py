"""The engine against stock transformers `generate`, in the same run (`arxiv-tui bench`).

Both sides generate exactly K new tokens for each of N alternatives from the same prompt with
the same sampling (temperature, top-k, top-p). Each side runs in its own child process, so
its peak memory is its own and one side's allocations do not slow the other; each does one
warm-up run, then `--runs` timed ones, and reports medians. The ratio is baseline median /
engine median.
"""

from __future__ import annotations

import math
import multiprocessing
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from arxiv_tui.runtime.model_template import model_template
from arxiv_tui.runtime.settings import GENERATION_DEFAULTS

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


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _summary(times: list[float], ttfts: list[float], tokens: int) -> dict:
    median = statistics.median(times)
    return {
        "median_s": round(median, 4),
        "best_s": round(min(times), 4),
        "ttft_s": round(statistics.median(ttfts), 4),
        "tokens_per_s": round(tokens / median, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def engine_side(directory: str, precision: str, n: int, k: int, runs: int, runtime: str = "auto") -> dict:
    """Time the engine; run in a child process."""
    from arxiv_tui.runtime.engine import Engine
    from arxiv_tui.runtime.settings import GenerationSettings, SamplingParams

    engine = Engine.open(directory, precision, runtime=runtime)
    settings = GenerationSettings(n=n, max_new_tokens=k, sampling=SamplingParams(), ignore_eos=True)

    def timed(prompt: str, cold: bool) -> tuple[float, float]:
        if cold:
            engine.forget_prompt()
        started = time.perf_counter()
        first = None
        for _ in engine.stream(prompt, settings):
            first = first if first is not None else time.perf_counter() - started
        assert first is not None  # ignore_eos: every request streams tokens
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
    if engine.loaded.runtime == "torch":  # OpenVINO's graph has no linear to call alone
        summary["linears_s"] = round(linears_time(engine.loaded.model, n, k, runs), 4)
    summary["precision"] = engine.loaded.precision
    summary["runtime"] = engine.loaded.runtime
    return summary


def linears_time(model, rows: int, steps: int, runs: int) -> float:
    """Seconds that `steps` decode steps of `rows` rows spend in the model's linear layers alone:
    each one, in the model's order, as packed for its precision, back to back with nothing between
    (the best of `runs` passes). It is the kernels' own bound, which no fusion of the attention,
    norms and sampling around them can go below."""
    import torch

    linears = [module for module in model.modules() if hasattr(module, "in_features")]
    inputs = {width: torch.randn(rows, width, dtype=model.dtype) for width in {m.in_features for m in linears}}
    times = []
    with torch.inference_mode():
        for _ in range(max(runs, 3) + 1):  # the first pass warms up
            started = time.perf_counter()
            for linear in linears:
                linear(inputs[linear.in_features])
            times.append(time.perf_counter() - started)
    return steps * min(times[1:])


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
    return {
        "confidence_tokens": CONFIDENCE_TOKENS,
        "confidence_s": round(statistics.median(cold), 4),
        "confidence_after_append_s": round(statistics.median(appended), 4),
    }


def baseline_side(directory: str, n: int, k: int, runs: int) -> dict:
    """Time transformers' own `generate` in fp32; run in a child process."""
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        LogitsProcessor,
        LogitsProcessorList,
    )

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
    inputs = tokenizer(model_template(Path(directory)) + BENCH_PROMPT, return_tensors="pt")  # the engine's prompt
    eos = tokenizer.eos_token_id
    d = GENERATION_DEFAULTS  # the engine side's sampling too

    def timed() -> tuple[float, float]:
        first = FirstCall()
        started = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                **inputs,
                do_sample=True,
                temperature=d.temperature,
                top_k=d.top_k,
                top_p=d.top_p,
                num_return_sequences=n,
                max_new_tokens=k,
                min_new_tokens=k,
                pad_token_id=eos,
                logits_processor=LogitsProcessorList([first]),
            )
        assert out.shape[1] - inputs["input_ids"].shape[1] == k
        assert first.at is not None  # k >= 1 tokens: the first one was seen
        return time.perf_counter() - started, first.at - started

    timed()  # warm-up
    results = [timed() for _ in range(runs)]
    return _summary([r[0] for r in results], [r[1] for r in results], n * k)


def fidelity_side(directory: str, precision: str, runtime: str = "torch") -> dict:
    """How close `precision`'s next-token distributions (on `runtime`) are to the PyTorch
    runtime's fp32 on held-out text."""
    import torch

    from arxiv_tui.runtime.checkpoint import load_model

    def log_probs(which: str, on: str = "torch") -> torch.Tensor:
        loaded = load_model(Path(directory), which, on)
        ids = loaded.tokenizer(loaded.template + HELD_OUT, return_tensors="pt")["input_ids"]
        ids = ids[:, : loaded.context_length]
        with torch.inference_mode():
            cache = loaded.model.new_cache(1, ids.shape[1])
            return loaded.model(ids, cache, all_positions=True)[0].log_softmax(-1)

    reference, tested = log_probs("fp32"), log_probs(precision, runtime)
    kl = (reference.exp() * (reference - tested)).sum(-1)
    agree = (reference.argmax(-1) == tested.argmax(-1)).float()
    return {"kl_mean": float(kl.mean()), "top1_agreement": round(float(agree.mean()), 4), "tokens": len(kl)}


def step_parameters(directory: str) -> int:
    """Numbers one decode step reads: every weight matrix of the blocks and the head. An input
    embedding (and GPT-2's position table) is only looked up by row, unless it is the tied head."""
    from arxiv_tui.runtime.weights import Checkpoint

    checkpoint = Checkpoint(Path(directory))
    untied = "lm_head.weight" in checkpoint
    lookups = {"wpe.weight", *(("wte.weight", "embed_tokens.weight") if untied else ())}
    return sum(math.prod(checkpoint.shape(name)) for name in checkpoint.names() if name not in lookups)


def floor_side(directory: str, k: int, runs: int) -> dict:
    """The physical floor of k decode steps: each reads every weight once, at the fastest rate
    this machine streams memory now (the fastest of several fp32 and bf16 sums over a buffer of
    the weights' size). Every row of a batch shares the step's reads, so the floor does not
    depend on n."""
    import torch

    parameters = step_parameters(directory)
    rates = []
    for dtype in (torch.float32, torch.bfloat16):
        buffer = torch.ones(parameters * 2 // dtype.itemsize, dtype=dtype)  # the bf16 weights' bytes
        buffer.sum()
        times = []
        for _ in range(max(runs, 5)):
            started = time.perf_counter()
            buffer.sum()
            times.append(time.perf_counter() - started)
        rates.append(parameters * 2 / min(times))
        del buffer
    rate = max(rates)
    return {
        "step_parameters": parameters,
        "read_gb_per_s": round(rate / 1e9, 2),
        "bf16_s": k * parameters * 2 / rate,
        "int8_s": k * parameters / rate,
    }


def _fresh_process() -> ProcessPoolExecutor:
    """One spawned process (nothing of this one's memory or threads carried over)."""
    return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))


def in_child(function, *args) -> dict:
    """Run `function(*args)` in a fresh process and return its result."""
    with _fresh_process() as pool:
        return pool.submit(function, *args).result()


def compare(directory: str, precision: str, n: int, k: int, runs: int, runtime: str = "auto") -> dict:
    """The whole report: each side in its own fresh process, and the ratio."""
    # This shared machine's read rate moves by up to 2x within minutes: the floor is read before
    # and after the engine, and the faster one is kept, against the engine's best run. Both reads
    # come from one process (idle, its buffer freed, while the engine runs): one start less.
    with _fresh_process() as floors:
        floor_before = floors.submit(floor_side, directory, k, runs).result()
        engine = in_child(engine_side, directory, precision, n, k, runs, runtime)
        floor_after = floors.submit(floor_side, directory, k, runs).result()
    floor = max(floor_before, floor_after, key=lambda f: f["read_gb_per_s"])
    baseline = in_child(baseline_side, directory, n, k, runs)
    fidelity = in_child(fidelity_side, directory, engine["precision"], engine["runtime"])
    precision = engine["precision"]
    own_floor = {"int8": floor["int8_s"], "int4": floor["int8_s"] / 2, "fp32": floor["bf16_s"] * 2}.get(
        precision, floor["bf16_s"]
    )
    linears = engine.get("linears_s")
    return {
        "settings": {
            "n": n,
            "max_new_tokens": k,
            "runs": runs,
            **{name: getattr(GENERATION_DEFAULTS, name) for name in ("temperature", "top_k", "top_p")},
            "prompt": BENCH_PROMPT,
            "precision": engine.pop("precision"),
            "runtime": engine.pop("runtime"),
            "long_prompt_tokens": engine.pop("long_prompt_tokens"),
        },
        "engine": engine,
        "baseline": baseline,
        "ratio": round(baseline["median_s"] / engine["median_s"], 2),
        "floor": floor,
        "engine_over_floor": round(engine["best_s"] / own_floor, 2),  # of the engine's own precision
        "linears_over_floor": round(linears / own_floor, 2) if linears is not None else None,
        "fidelity_vs_fp32": fidelity,
    }
