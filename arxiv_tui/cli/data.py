"""`arxiv-tui data`: the training data `finetune` prepared and keeps for its next run."""

from __future__ import annotations

import argparse
from datetime import datetime

from arxiv_tui.cli.options import UsageError, add_listing_command


def add_command(commands) -> None:
    actions = add_listing_command(
        commands,
        "data",
        help="list or clear the training data finetune prepared",
        description="finetune tokenizes its data once and keeps it in the data directory; the same "
        "command again (same file, tokenizer, template, filters, seed and sizes) reuses it.",
        list_help="prepared data sets, most recently used first",
        list_run=_list,
    )
    clear = actions.add_parser("clear", help="remove prepared data (all of it, or the named entries)")
    clear.add_argument("names", nargs="*", metavar="NAME", help="entries to remove (a prefix is enough)")
    clear.set_defaults(run=_clear)


def _list(args: argparse.Namespace) -> int:
    from arxiv_tui.trainer.data.cache import cache_root, entries

    found = entries()
    if not found:
        print(f"no prepared data in {cache_root()}")
    for entry in found:
        used = datetime.fromtimestamp(entry.last_used).strftime("%Y-%m-%d %H:%M")
        print(
            f"{entry.name}\t{entry.data}\t{entry.texts:,} texts, {entry.tokens:,} tokens, "
            f"{entry.size / 1e6:.1f} MB, last used {used}"
        )
    return 0


def _clear(args: argparse.Namespace) -> int:
    from arxiv_tui.trainer.data.cache import clear

    try:
        freed = clear(args.names or None)
    except KeyError as exc:
        raise UsageError(f"no prepared data named {exc.args[0]}: see `arxiv-tui data list`") from None
    print(f"freed {freed / 1e6:.1f} MB")
    return 0
