"""`arxiv-tui history`: drafts and generations from the shell."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json

from arxiv_tui.cli.options import (
    CommandError,
    UsageError,
    add_listing_command,
    positive_int,
)


def add_command(commands) -> None:
    actions = add_listing_command(
        commands,
        "history",
        help="list, show, export or search past drafts",
        description="Drafts and their generation requests, as the app stored them.",
        list_help="drafts, newest first",
        list_run=_list,
    )
    show = actions.add_parser("show", help="a draft with its requests, alternatives and choices")
    show.add_argument("id", type=positive_int)
    show.set_defaults(run=_show)
    export = actions.add_parser(
        "export", help="a draft as Markdown, plain text, a LaTeX abstract environment, or JSON with its tree of choices"
    )
    export.add_argument("id", type=positive_int)
    export.add_argument("--format", choices=["md", "txt", "tex", "json"], default="md")
    export.set_defaults(run=_export)
    search = actions.add_parser("search", help="drafts and alternatives containing TEXT")
    search.add_argument("text")
    search.set_defaults(run=_search)


def _when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def _open():
    import sqlite3

    from arxiv_tui.store.history import History, unusable_reason

    try:
        return History()
    except (OSError, sqlite3.Error) as exc:
        raise CommandError(f"the history can't be opened: {unusable_reason(exc)}") from None


def _draft(history, draft_id: int):
    draft = history.draft(draft_id)
    if draft is None:
        raise UsageError(f"no draft with id {draft_id} (see `arxiv-tui history list`)")
    return draft


def _list(args: argparse.Namespace) -> int:
    for draft in _open().drafts():
        print(f"{draft.id}\t{_when(draft.updated_at)}\t{' '.join(draft.text.split())[:80]}")
    return 0


def _show(args: argparse.Namespace) -> int:
    history = _open()
    draft = _draft(history, args.id)
    print(f"draft {draft.id}, saved {_when(draft.updated_at)}\n\n{draft.text}\n")
    for request in reversed(history.requests(draft.id)):
        print(f"request {request.id} at {_when(request.created_at)}, prompt ending …{request.prompt[-40:]!r}")
        picked = {c.index: c.kind for c in request.choices}
        for alt in request.alternatives:
            mark = f"  <- accepted ({picked[alt.index]})" if alt.index in picked else ""
            print(f"  [{alt.index + 1}] {alt.text.strip()}{mark}")
    return 0


def _node_json(node) -> dict:
    """A tree node as the JSON export writes it: the request's fields, each alternative with what
    of it was accepted and the nodes that followed."""
    request = dataclasses.asdict(node.request)
    request["alternatives"] = [
        {
            **dataclasses.asdict(branch.alternative),
            "accepted": [{"text": c.accepted, "kind": c.kind} for c in branch.accepted],
            "children": [_node_json(child) for child in branch.children],
        }
        for branch in node.branches
    ]
    return request


def _export(args: argparse.Namespace) -> int:
    history = _open()
    draft = _draft(history, args.id)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "id": draft.id,
                    "updated_at": draft.updated_at,
                    "text": draft.text,
                    "tree": [_node_json(node) for node in history.tree(draft.id)],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    elif args.format == "md":
        print(f"# Draft {draft.id}\n\n_Saved {_when(draft.updated_at)} by arxiv-tui._\n\n{draft.text}")
    elif args.format == "tex":  # ready to paste into the paper
        print(f"\\begin{{abstract}}\n{draft.text.strip()}\n\\end{{abstract}}")
    else:
        print(draft.text)
    return 0


def _search(args: argparse.Namespace) -> int:
    for hit in _open().search(args.text):
        print(f"{hit.kind}\t{hit.ref}\t{hit.snippet}")
    return 0
