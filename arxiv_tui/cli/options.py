"""What the commands share: the errors they report, a parser that reports its own errors as
one line, value checks, and the options several commands take. Imports no command module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

from arxiv_tui.errors import ReportedError
from arxiv_tui.runtime.native.convert import ConversionProgress
from arxiv_tui.runtime.settings import (
    DEFAULT_MODEL,
    GENERATION_DEFAULTS,
    PRECISIONS,
    RANGES,
    RUNTIMES,
)

if TYPE_CHECKING:
    from arxiv_tui.runtime.fetch import FetchProgress

PROG = "arxiv-tui"


class UsageError(ReportedError):
    """Bad usage or bad input: exit 2."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


class CommandError(ReportedError):
    """Any other failure: exit 1."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=1)


class Parser(argparse.ArgumentParser):
    """argparse that reports errors as the one-line contract requires."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _number(kind: type, check: Callable[[float], bool], rule: str) -> Callable[[str], float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {rule}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {rule}")
        return value

    return parse


positive_int = _number(int, lambda v: v >= 1, "a positive integer")
non_negative_int = _number(int, lambda v: v >= 0, "a non-negative integer")
non_negative_float = _number(float, lambda v: v >= 0, "a number of 0 or more")
positive_float = _number(float, lambda v: v > 0, "a number above 0")


def setting(name: str, kind: type) -> Callable[[str], float]:
    """An argparse type for generation setting `name`, checked against its one range."""
    return _number(kind, RANGES[name].holds, f"a number {RANGES[name].words}")


def comma_list(text: str | None) -> tuple[str, ...] | None:
    """A comma-separated option (`--categories cs.AI,cs.LG`) as a tuple (None when not given)."""
    return tuple(part.strip() for part in text.split(",") if part.strip()) if text else None


def add_model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=None,
        metavar="NAME_OR_PATH",
        help=f"a model directory, a registered fine-tuned model, or a Hub id (default {DEFAULT_MODEL})",
    )


def add_api_options(parser: argparse.ArgumentParser) -> None:
    """--api-base and --api-model: draft against a completion server instead of the local model."""
    parser.add_argument(
        "--api-base",
        default=None,
        metavar="URL",
        help="an OpenAI-compatible server's base (http://gpu-box:8000/v1), or ollama:URL for Ollama's own API; "
        "the key comes from the variable the config's api_key_env names (default ARXIV_TUI_API_KEY, then "
        "OPENAI_API_KEY)",
    )
    parser.add_argument(
        "--api-model", default=None, metavar="NAME", help="the server's model (default: the first it lists)"
    )


def add_precision_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="weights: auto (int4 on OpenVINO; on PyTorch fp16 on x86, else bf16 where the CPU has it, else "
        "fp32), int8 (a quarter of fp32's bytes) or int4 (an eighth; OpenVINO only)",
    )
    parser.add_argument(
        "--runtime",
        default="auto",
        choices=RUNTIMES,
        help="auto: OpenVINO where it is installed and the model converts (once, cached beside the model), "
        "else PyTorch; or either one only",
    )


def add_sampling_options(parser: argparse.ArgumentParser) -> None:
    d = GENERATION_DEFAULTS
    parser.add_argument("-n", type=setting("n", int), default=d.n, help=f"alternatives (default {d.n})")
    parser.add_argument("--max-new-tokens", type=setting("max_new_tokens", int), default=d.max_new_tokens, metavar="K")
    parser.add_argument(
        "--temperature",
        type=setting("temperature", float),
        default=d.temperature,
        metavar="T",
        help=f"0 is greedy (default {d.temperature})",
    )
    parser.add_argument("--top-p", type=setting("top_p", float), default=d.top_p, metavar="P")
    parser.add_argument(
        "--top-k",
        type=setting("top_k", int),
        default=d.top_k,
        metavar="K",
        help=f"0 turns it off (default {d.top_k}, as transformers' generate)",
    )
    parser.add_argument(
        "--repetition-penalty", type=setting("repetition_penalty", float), default=d.repetition_penalty, metavar="X"
    )


def add_listing_command(
    commands, name: str, help: str, description: str, list_help: str, list_run: Callable[[argparse.Namespace], int]
):
    """A command with actions whose bare form lists (`arxiv-tui NAME` is `arxiv-tui NAME list`);
    returns the actions, to add the others to."""
    parser = commands.add_parser(name, help=help, description=description)
    actions = parser.add_subparsers(title="actions", metavar="ACTION", parser_class=type(parser))
    parser.set_defaults(run=list_run)
    actions.add_parser("list", help=list_help).set_defaults(run=list_run)
    return actions


def print_notice(notice: str) -> None:
    """Say on stderr why a model runs where it does (a fallback to PyTorch), if anything."""
    if notice:
        print(f"arxiv-tui: {notice}", file=sys.stderr)


@contextmanager
def download_progress() -> Iterator[Callable[[FetchProgress | ConversionProgress], None]]:
    """A reporter for `resolve_model` and a first conversion for OpenVINO: once a download
    starts, a bar of bytes on stderr with the rate and the time left (rich), not
    huggingface_hub's count of files; a conversion's bar counts its blocks."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    console = Console(stderr=True)
    live: dict[str, tuple[Progress, TaskID]] = {}  # the download under way (finetune fetches two)

    def report(progress: FetchProgress | ConversionProgress) -> None:
        if isinstance(progress, ConversionProgress):
            converting(progress)
            return
        if progress.repo_id not in live:  # resumed bytes are there from the start: no part of the rate
            bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=console,
            )
            bar.start()
            live[progress.repo_id] = (
                bar,
                bar.add_task(f"downloading {progress.repo_id}", total=progress.total, completed=progress.done),
            )
        bar, task = live[progress.repo_id]
        bar.update(task, completed=progress.done, total=progress.total)
        if progress.total and progress.done >= progress.total:  # done: what is printed next goes below it
            bar.stop()
            del live[progress.repo_id]

    def converting(progress: ConversionProgress) -> None:
        key = f"convert {progress.precision}"
        if key not in live:
            bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console)
            bar.start()
            description = f"converting for OpenVINO ({progress.precision}, once), blocks"
            live[key] = (bar, bar.add_task(description, total=progress.total, completed=progress.done))
        bar, task = live[key]
        bar.update(task, completed=progress.done)
        if progress.done >= progress.total:
            bar.stop()
            del live[key]

    try:
        yield report
    finally:
        for bar, _ in live.values():
            bar.stop()
