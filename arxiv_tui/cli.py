"""The `arxiv-tui` command: the app by default, and headless subcommands.

Every failure is one line on stderr starting `arxiv-tui: error:`; exit 2 for bad usage or
bad input, 1 for anything else. Heavy modules are imported inside the commands that need them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from arxiv_tui.settings import DEFAULT_MODEL, GenerationDefaults

PROG = "arxiv-tui"


class UsageError(Exception):
    """Bad usage or bad input: exit 2."""


class CommandError(Exception):
    """Any other failure: exit 1."""


class _Parser(argparse.ArgumentParser):
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
top_p_value = _number(float, lambda v: 0 < v <= 1, "a number in (0, 1]")


def add_model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=None, metavar="NAME_OR_PATH",
        help=f"a model directory, a registered fine-tuned model, or a Hub id (default {DEFAULT_MODEL})",
    )


def add_precision_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision", default="auto", choices=["auto", "bf16", "fp32", "int8"],
        help="weights and compute: auto (bf16 where the CPU has it, else fp32), or int8 (fastest)",
    )


def add_sampling_options(parser: argparse.ArgumentParser) -> None:
    d = GenerationDefaults()
    parser.add_argument("-n", type=positive_int, default=d.n, help=f"alternatives (default {d.n})")
    parser.add_argument("--max-new-tokens", type=positive_int, default=d.max_new_tokens, metavar="K")
    parser.add_argument("--temperature", type=non_negative_float, default=d.temperature, metavar="T",
                        help=f"0 is greedy (default {d.temperature})")
    parser.add_argument("--top-p", type=top_p_value, default=d.top_p, metavar="P")
    parser.add_argument("--top-k", type=non_negative_int, default=d.top_k, metavar="K",
                        help=f"0 turns it off (default {d.top_k}, as transformers' generate)")
    parser.add_argument("--repetition-penalty", type=positive_float, default=d.repetition_penalty, metavar="X")


def add_listing_command(commands, name: str, help: str, description: str, list_help: str,
                        list_run: Callable[[argparse.Namespace], int]):
    """A command with actions whose bare form lists (`arxiv-tui NAME` is `arxiv-tui NAME list`);
    returns the actions, to add the others to."""
    parser = commands.add_parser(name, help=help, description=description)
    actions = parser.add_subparsers(title="actions", metavar="ACTION", parser_class=type(parser))
    parser.set_defaults(run=list_run)
    actions.add_parser("list", help=list_help).set_defaults(run=list_run)
    return actions


def build_parser() -> argparse.ArgumentParser:
    from arxiv_tui import bench, cli_generate, cli_history, cli_models, cli_train

    parser = _Parser(prog=PROG, description="Draft arXiv abstracts with a small local language model.")
    add_model_option(parser)
    parser.set_defaults(run=_run_app)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for module in (cli_generate, bench, cli_models, cli_history, cli_train):
        module.add_command(commands)
    return parser


def _run_app(args: argparse.Namespace) -> int:
    from arxiv_tui.app import run_app

    return run_app(args.model)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    from arxiv_tui.errors import ReportedError

    try:
        args = build_parser().parse_args(argv)
        return args.run(args) or 0
    except UsageError as exc:
        return _fail(str(exc), 2)
    except ReportedError as exc:  # a model, data or training problem, with its own exit status
        return _fail(str(exc), exc.exit_code)
    except CommandError as exc:
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:  # `arxiv-tui generate ... | head`
        sys.stderr.close()
        return 1


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
