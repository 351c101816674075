"""`arxiv-tui generate`: alternatives for a prompt, without the app."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING

from arxiv_tui.cli.options import (
    UsageError,
    add_api_options,
    add_model_option,
    add_precision_option,
    add_sampling_options,
    download_progress,
    print_notice,
)
from arxiv_tui.runtime.settings import DEFAULT_MODEL

if TYPE_CHECKING:
    from arxiv_tui.runtime.continuation import StreamingRun


def add_command(commands) -> None:
    parser = commands.add_parser(
        "generate",
        help="print alternative continuations of a prompt",
        description="Generate N alternative continuations of PROMPT (or of standard input).",
    )
    add_model_option(parser)
    add_api_options(parser)
    add_sampling_options(parser)
    add_precision_option(parser)
    parser.add_argument("--greedy", action="store_true", help="argmax decoding (as transformers' greedy generate)")
    parser.add_argument("--seed", type=int, default=None, help="make the sampling repeatable")
    parser.add_argument("--stop-at-sentence", action="store_true", help="end each alternative at the end of a sentence")
    parser.add_argument("--raw", action="store_true", help="send the prompt as it is, without the template in front")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("prompt", nargs="?", default="-", metavar="PROMPT", help="the text to continue; - reads stdin")
    parser.set_defaults(run=run)


def read_prompt(argument: str) -> str:
    """The prompt argument, or standard input for `-`."""
    if argument != "-":
        return argument
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("no prompt: give PROMPT or pipe the text on standard input")
    try:
        return sys.stdin.read()
    except UnicodeDecodeError:
        raise UsageError("standard input is not UTF-8 text") from None


def settings_from_args(args: argparse.Namespace):
    from arxiv_tui.runtime.settings import GenerationSettings, SamplingParams

    sampling = SamplingParams(
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        repetition_penalty=args.repetition_penalty,
        greedy=args.greedy,
    )
    return GenerationSettings(
        n=args.n,
        max_new_tokens=args.max_new_tokens,
        sampling=sampling,
        seed=args.seed,
        stop_at_sentence_end=args.stop_at_sentence,
    )


def _open_run(args: argparse.Namespace, prompt: str, settings) -> tuple[str, dict, StreamingRun]:
    """(model name, what the JSON says of where it ran, the run) on the local engine or a server."""
    if args.api_base:
        import threading

        from arxiv_tui.runtime.prompts import with_template
        from arxiv_tui.runtime.remote.run import RemoteRun
        from arxiv_tui.runtime.remote.servers import open_server
        from arxiv_tui.tui.config import load_config

        config = load_config()[0]
        server = open_server(args.api_base, args.api_model, config.api_key_env)
        text = with_template(prompt, config.template, args.raw)
        return (
            server.model,
            {"server": server.name, "template": config.template},
            RemoteRun(server, text, settings, threading.Event()),
        )
    from arxiv_tui.runtime.engine import Engine

    model = args.model or DEFAULT_MODEL
    with download_progress() as report:
        engine = Engine.open(model, args.precision, on_progress=report, runtime=args.runtime)
    try:
        settings.validate(engine.context_length)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print_notice(engine.loaded.notice)
    where = {"precision": engine.loaded.precision, "runtime": engine.loaded.runtime, "template": engine.template}
    return model, where, engine.stream(prompt, settings, raw=args.raw)


def run(args: argparse.Namespace) -> int:
    prompt = read_prompt(args.prompt)
    settings = settings_from_args(args)
    started = time.perf_counter()
    model, where, run = _open_run(args, prompt, settings)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    ttft = None
    for _ in run:
        ttft = ttft if ttft is not None else time.perf_counter() - started
    alternatives = run.alternatives
    total = time.perf_counter() - started
    tokens = sum(len(a.tokens) for a in alternatives)
    if args.json:
        print(
            json.dumps(
                {
                    "model": model,
                    "prompt": prompt,
                    "settings": {
                        "n": settings.n,
                        "max_new_tokens": settings.max_new_tokens,
                        "temperature": args.temperature,
                        "top_p": args.top_p,
                        "top_k": args.top_k,
                        "repetition_penalty": args.repetition_penalty,
                        "greedy": args.greedy,
                        "seed": args.seed,
                        "stop_at_sentence": args.stop_at_sentence,
                        "raw": args.raw,
                        **where,
                    },
                    "alternatives": [
                        {"text": a.text, "tokens": len(a.tokens), "finish_reason": a.finish_reason}
                        for a in alternatives
                    ],
                    "timing": {
                        "load_s": round(load_s, 4),
                        "ttft_s": round(ttft or 0.0, 4),
                        "total_s": round(total, 4),
                        "tokens_per_s": round(tokens / total, 2) if total > 0 else 0.0,
                    },
                },
                ensure_ascii=False,
            )
        )
    else:
        for alt in alternatives:
            print(f"[{alt.index + 1}] {alt.text.strip()}\n")
    return 0
