"""The `arxiv-tui` command: the app by default, and headless subcommands.

Every failure is one line on stderr starting `arxiv-tui: error:`; exit 2 for bad usage or
bad input, 1 for anything else. Heavy modules are imported inside the commands that need them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from arxiv_tui.cli.options import PROG, Parser, add_model_option
from arxiv_tui.errors import ReportedError


def build_parser() -> argparse.ArgumentParser:
    from arxiv_tui.cli import bench, data, generate, history, models, train

    parser = Parser(prog=PROG, description="Draft arXiv abstracts with a small local language model.")
    add_model_option(parser)
    parser.set_defaults(run=_run_app)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)
    for module in (generate, bench, models, history, train, data):
        module.add_command(commands)
    return parser


def _run_app(args: argparse.Namespace) -> int:
    from arxiv_tui.tui.app import run_app

    return run_app(args.model)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
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
