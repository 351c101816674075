"""`arxiv-tui models`: list, fetch and remove models."""

from __future__ import annotations

import argparse

from arxiv_tui.cli.options import add_listing_command
from arxiv_tui.runtime.generation import DEFAULT_MODEL


def add_command(commands) -> None:
    actions = add_listing_command(
        commands, "models", help="list, pull or remove models",
        description="List registered models, pull one from the Hub, or remove one.",
        list_help="registered fine-tuned models and the default", list_run=_list)
    pull = actions.add_parser("pull", help="download a Hub model into the Hugging Face cache")
    pull.add_argument("name", nargs="?", default=DEFAULT_MODEL)
    pull.set_defaults(run=_pull)
    remove = actions.add_parser("rm", help="forget a registered model (deleting it if it lives in the data dir)")
    remove.add_argument("name")
    remove.set_defaults(run=_remove)


def _list(args: argparse.Namespace) -> int:
    from arxiv_tui.runtime.registry import registered_models

    print(f"{DEFAULT_MODEL}\t(default, from the Hugging Face Hub)")
    for name, directory in registered_models().items():
        print(f"{name}\t{directory}")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from arxiv_tui.runtime.registry import resolve_model

    print(resolve_model(args.name))
    return 0


def _remove(args: argparse.Namespace) -> int:
    from arxiv_tui.runtime.registry import unregister_model

    print(f"removed {args.name} ({unregister_model(args.name)})")
    return 0
