"""`arxiv-tui bench`: the engine against stock transformers `generate` in the same run
(`arxiv_tui.bench.engine`), or the app against headless generation (`arxiv_tui.bench.app`)."""

from __future__ import annotations

import argparse
import json

from arxiv_tui.cli.options import (
    CommandError,
    UsageError,
    add_api_options,
    add_model_option,
    add_precision_option,
    download_progress,
    positive_int,
)
from arxiv_tui.runtime.settings import DEFAULT_MODEL


def add_command(commands) -> None:
    parser = commands.add_parser(
        "bench",
        help="time the engine against transformers' generate",
        description="Time the engine against stock transformers generate (fp32) in the same run.",
    )
    add_model_option(parser)
    add_api_options(parser)
    parser.add_argument("-n", type=positive_int, default=3, help="alternatives (default 3)")
    parser.add_argument("--max-new-tokens", type=positive_int, default=100, metavar="K")
    parser.add_argument("--runs", type=positive_int, default=5, metavar="R")
    add_precision_option(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    app = parser.add_argument_group("the app (--app)")
    app.add_argument(
        "--app",
        action="store_true",
        help="drive the real app in a pseudo-terminal and compare it with headless generation",
    )
    app.add_argument(
        "--draft-tokens",
        type=positive_int,
        default=20,
        metavar="T",
        help="length of the draft the app continues (default 20)",
    )
    app.add_argument(
        "--keys",
        type=positive_int,
        default=20,
        metavar="K",
        help="letters typed while alternatives stream (default 20)",
    )
    serve = parser.add_argument_group("the server (--serve)")
    serve.add_argument(
        "--serve",
        action="store_true",
        help="time `arxiv-tui serve` under concurrent streaming clients against the engine alone",
    )
    serve.add_argument(
        "--clients",
        default="1,4,8",
        metavar="LIST",
        help="numbers of concurrent clients (default 1,4,8); each sends --runs requests",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from arxiv_tui.runtime.registry import resolve_model

    if args.api_base and not args.app:
        return _run_remote_bench(args)
    with download_progress() as show_download:
        directory = str(resolve_model(args.model or DEFAULT_MODEL, show_download))
    n, k, runs = args.n, args.max_new_tokens, args.runs
    if args.app:
        return _run_app_bench(directory, args)
    if args.serve:
        return _run_serve_bench(directory, args)
    from arxiv_tui.bench.engine import compare

    try:
        report = compare(directory, args.precision, n, k, runs, args.runtime)
    except Exception as exc:  # noqa: BLE001 - whatever breaks a benchmark is one line, never a traceback
        raise CommandError(f"benchmark failed: {exc}") from None
    report["settings"] = {"model": args.model or DEFAULT_MODEL, **report["settings"]}
    if args.json:
        print(json.dumps(report))
    else:
        _print_table(report)
    return 0


def _run_remote_bench(args: argparse.Namespace) -> int:
    from arxiv_tui.bench.remote import remote_side

    report = remote_side(args.api_base, args.api_model, args.n, args.max_new_tokens, args.runs)
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"{report['model']} at {report['server']}: {args.n} x {args.max_new_tokens} tokens in "
            f"{report['median_s']:.3f} s, first text after {report['ttft_s'] * 1000:.0f} ms "
            f"(median of {args.runs}; {report['pieces_per_s']:.0f} pieces/s)"
        )
    return 0


def _run_serve_bench(directory: str, args: argparse.Namespace) -> int:
    from arxiv_tui.bench.serve import run_serve_bench

    try:
        clients = [int(part) for part in (args.clients or "").split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"--clients must be numbers separated by commas, not {args.clients!r}") from None
    try:
        report = run_serve_bench(
            directory, args.precision, args.n, args.max_new_tokens, args.runs, clients, args.runtime
        )
    except Exception as exc:  # noqa: BLE001 - whatever breaks a benchmark is one line, never a traceback
        raise CommandError(f"serve benchmark failed: {exc}") from None
    if args.json:
        print(json.dumps(report))
        return 0
    alone = report["engine_alone"]
    print(f"engine alone: first token {alone['first_token']}, request {alone['request']}")
    for count, figures in report["serve"].items():
        print(f"serve, {count} client(s): first token {figures['first_token']}, request {figures['request']}")
    print(f"HTTP layer at one client: {report['http_overhead_one_client']:+.1%} of the request's p50")
    return 0


def _run_app_bench(directory: str, args: argparse.Namespace) -> int:
    from arxiv_tui.bench import app as bench_app

    try:
        report = bench_app.run_app_bench(
            directory,
            args.precision,
            args.n,
            args.max_new_tokens,
            args.draft_tokens,
            args.runs,
            args.keys,
            args.api_base or "",
        )
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
    table.add_column(f"engine ({s['runtime']}, {s['precision']})", justify="right")
    table.add_column("transformers generate (fp32)", justify="right")
    e, b = report["engine"], report["baseline"]
    table.add_row("total", f"{e['median_s']:.3f} s", f"{b['median_s']:.3f} s")
    table.add_row("time to first token", f"{e['ttft_s'] * 1000:.1f} ms", f"{b['ttft_s'] * 1000:.1f} ms")
    table.add_row("tokens/s (all alternatives)", f"{e['tokens_per_s']:.0f}", f"{b['tokens_per_s']:.0f}")
    table.add_row("peak memory", f"{e['peak_rss_mb']:.0f} MB", f"{b['peak_rss_mb']:.0f} MB")
    console = Console()
    console.print(table)
    console.print(
        f"engine is [bold]{report['ratio']}×[/bold] faster; "
        f"first token after a {s['long_prompt_tokens']}-token prompt: "
        f"{e['ttft_long_prompt_s'] * 1000:.0f} ms cold, "
        f"{e['ttft_after_append_s'] * 1000:.0f} ms after appending a few words (cache reused)"
    )
    console.print(
        f"confidence view over a {e['confidence_tokens']}-token draft: {e['confidence_s'] * 1000:.0f} ms, "
        f"{e['confidence_after_append_s'] * 1000:.0f} ms after appending a few words"
    )
    floor = report["floor"]
    console.print(
        f"floor (every weight read once a step at {floor['read_gb_per_s']:.1f} GB/s, the faster of a read "
        f"before and after the engine): 16-bit {floor['bf16_s']:.3f} s, int8 {floor['int8_s']:.3f} s, int4 "
        f"{floor['int8_s'] / 2:.3f} s; the engine's "
        f"best run ({e['best_s']:.3f} s) takes [bold]{report['engine_over_floor']}×[/bold] its own"
    )
    if "linears_s" in e:
        console.print(
            f"the model's linear layers alone, back to back with nothing between: {e['linears_s']:.3f} s, "
            f"{report['linears_over_floor']}× its own floor (the kernels' own bound)"
        )
    f = report["fidelity_vs_fp32"]
    console.print(
        f"{s['precision']} against fp32 on {f['tokens']} held-out tokens: mean KL "
        f"{f['kl_mean']:.2e}, top-1 agreement {f['top1_agreement']:.1%}"
    )
