"""The `arxiv-tui` command: the app by default, and headless subcommands.

Every failure is one line on stderr starting `arxiv-tui: error:`; exit 2 for bad usage or
bad input, 1 for anything else. Heavy modules are imported inside the commands that need them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from arxiv_tui.cli.options import PROG, Parser, add_api_options, add_model_option
from arxiv_tui.errors import ReportedError


def build_parser() -> tuple[argparse.ArgumentParser, set[str]]:
    """The parser, and the names of its commands."""
    from arxiv_tui.cli import bench, data, generate, history, models, serve, train

    parser = Parser(
        prog=PROG,
        description="Draft arXiv abstracts with a small local language model.",
        usage=f"{PROG} [-h] [--model NAME_OR_PATH | --api-base URL [--api-model NAME]] [FILE | COMMAND ...]",
    )
    add_model_option(parser)
    add_api_options(parser)
    parser.add_argument(
        "--paper",
        type=Path,
        default=None,
        metavar="FILE",
        help="edit the abstract of a paper's .tex file (or a whole .md/.txt file) and save it "
        "back there; `arxiv-tui FILE` says the same",
    )
    parser.set_defaults(run=_run_app)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser, prog=PROG)
    for module in (generate, bench, models, history, train, data, serve):
        module.add_command(commands)
    return parser, set(commands.choices)


def _run_app(args: argparse.Namespace) -> int:
    # Textual draws a changed screen at its next frame tick: at its default 60 a second, a typed key
    # or the last streamed text waited 8 ms on average for it (keys at rest showed in 13 ms, now
    # 4-9). Frames are drawn only when something changed, so a finer tick adds none while streaming.
    os.environ.setdefault("TEXTUAL_FPS", "120")
    from arxiv_tui.tui.app import run_app

    return run_app(args.model, args.paper, args.api_base, args.api_model)


def _file_as_paper(argv: list[str], commands: set[str]) -> list[str]:
    """`arxiv-tui paper.tex` is `arxiv-tui --paper paper.tex`: a first word that names no command
    is the file to edit."""
    index = 0
    while index < len(argv):
        word = argv[index]
        if word in ("--model", "--api-base", "--api-model"):
            index += 2
        elif word.startswith("-"):
            index += 1
        elif word in commands:
            return argv
        else:
            return [*argv[:index], "--paper", word, *argv[index + 1 :]]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    try:
        parser, commands = build_parser()
        args = parser.parse_args(_file_as_paper(list(sys.argv[1:] if argv is None else argv), commands))
        return args.run(args) or 0
    except ReportedError as exc:  # bad usage (2), or a model, data or training problem (its own status)
        return _fail(str(exc), exc.exit_code)
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
