"""`arxiv-tui serve`: the engine behind an OpenAI-compatible HTTP endpoint, for editors' plugins."""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading

from arxiv_tui.cli.options import (
    CommandError,
    add_model_option,
    add_precision_option,
    download_progress,
    positive_int,
    print_notice,
)
from arxiv_tui.runtime.settings import DEFAULT_MODEL
from arxiv_tui.server.worker import MAX_BATCH_ROWS


def add_command(commands) -> None:
    parser = commands.add_parser(
        "serve",
        help="serve the model over an OpenAI-compatible HTTP API",
        description="Serve OpenAI-compatible /v1/models and /v1/completions (streamed or not, n, echo with "
        "logprobs) from the local engine, for editor plugins and other clients. Binds 127.0.0.1 unless told.",
    )
    add_model_option(parser)
    add_precision_option(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--api-key", default=None, metavar="KEY", help="answer 401 to requests without this key")
    parser.add_argument(
        "--max-waiting",
        type=positive_int,
        default=16,
        metavar="N",
        help="requests that may wait for the engine; more get 503 with Retry-After (default 16)",
    )
    parser.add_argument(
        "--max-batch",
        type=positive_int,
        default=MAX_BATCH_ROWS,
        metavar="ROWS",
        help=f"alternatives of all requests that share a decode step, on OpenVINO (default {MAX_BATCH_ROWS}); "
        "a request with more runs alone",
    )
    parser.set_defaults(run=run)


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a taken port is one line, not uvicorn's log and exit."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _log(alternatives: list, seconds: float) -> None:
    """One line a request on standard error: what it generated, how it ended, how long it took."""
    reasons = sorted({alt.finish_reason or "?" for alt in alternatives})
    tokens = sum(len(alt.tokens) for alt in alternatives)
    print(
        f"{len(alternatives)} alternatives, {tokens} tokens in {seconds:.2f} s ({', '.join(reasons)})", file=sys.stderr
    )


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from arxiv_tui.runtime.engine import Engine
    from arxiv_tui.server.app import CompletionsApi
    from arxiv_tui.server.worker import engine_worker

    sock = _bind(args.host, args.port)
    model = args.model or DEFAULT_MODEL
    with download_progress() as report:
        engine = Engine.open(model, args.precision, on_progress=report, runtime=args.runtime)
    worker = engine_worker(engine, args.max_waiting, on_done=_log, max_rows=args.max_batch)
    api = CompletionsApi(worker, model, args.api_key)
    server = uvicorn.Server(uvicorn.Config(api.app(), log_level="warning", timeout_graceful_shutdown=2))
    # The engine keeps the main thread (see `arxiv_tui.server.worker`); HTTP runs beside it.
    http = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="http", daemon=True)
    http.start()
    host, port = sock.getsockname()[:2]
    print_notice(engine.loaded.notice)
    how = f"{engine.loaded.runtime} {engine.loaded.precision}"
    print(f"serving {model} ({how}) at http://{host}:{port}/v1 (Ctrl+C stops)", file=sys.stderr)
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop: the same clean way out
    try:
        worker.run()
    except KeyboardInterrupt:  # Ctrl+C is the way out: stop taking requests, end the open ones
        worker.stop()
    finally:
        server.should_exit = True
        http.join(5)
        sock.close()
    print("stopped", file=sys.stderr)
    return 0
