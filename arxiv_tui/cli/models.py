"""`arxiv-tui models`: list, fetch and remove models."""

from __future__ import annotations

import argparse
from pathlib import Path

from arxiv_tui.cli.options import add_listing_command, comma_list, download_progress
from arxiv_tui.runtime.model_info import describe
from arxiv_tui.runtime.settings import DEFAULT_MODEL


def add_command(commands) -> None:
    actions = add_listing_command(
        commands,
        "models",
        help="list, pull or remove models",
        description="List registered models, pull one from the Hub, or remove one.",
        list_help="registered fine-tuned models and the default",
        list_run=_list,
    )
    pull = actions.add_parser("pull", help="download a Hub model into the Hugging Face cache")
    pull.add_argument("name", nargs="?", default=DEFAULT_MODEL)
    pull.set_defaults(run=_pull)
    index = actions.add_parser(
        "index",
        help="index a model's training texts for the copied-text guard",
        description="Build the index of word 8-grams with which the app flags a suggestion that repeats a "
        "training text (finetune builds one for its models; this is for the others, the "
        "published model included, when their data is at hand).",
    )
    index.add_argument("name", nargs="?", default=DEFAULT_MODEL)
    index.add_argument("--data", required=True, metavar="SRC", help="the training data (any finetune --data source)")
    index.add_argument("--categories", default=None, metavar="LIST", help="only texts in these categories")
    index.set_defaults(run=_index)
    remove = actions.add_parser("rm", help="forget a registered model (deleting it if it lives in the data dir)")
    remove.add_argument("name")
    remove.set_defaults(run=_remove)


def _list(args: argparse.Namespace) -> int:
    from arxiv_tui.runtime.fetch import cached_models
    from arxiv_tui.runtime.registry import registered_models

    cached = cached_models()
    default = _cache_state(cached.pop(DEFAULT_MODEL, None))
    print(f"{DEFAULT_MODEL}\t(default, from the Hugging Face Hub; {_with_description(default, DEFAULT_MODEL)})")
    for repo_id, sizes in sorted(cached.items()):
        print(f"{repo_id}\t(from the Hugging Face Hub; {_with_description(_cache_state(sizes), repo_id)})")
    for name, directory in registered_models().items():
        print(f"{name}\t{directory}\t({describe(directory) or 'not readable'})")
    return 0


def _with_description(state: str, repo_id: str) -> str:
    """The cache state, then what the cached snapshot holds (family, parameters, precision)."""
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(repo_id, "config.json")
    described = describe(Path(config).parent) if isinstance(config, str) else ""
    return f"{state}; {described}" if described else state


def _cache_state(sizes: tuple[int, int] | None) -> str:
    if sizes is None:
        return "not downloaded yet"
    complete, partial = sizes
    state = f"{complete / 1e6:.1f} MB in the cache"
    return state + (f", {partial / 1e6:.1f} MB of a stopped download that `models pull` resumes" if partial else "")


def _pull(args: argparse.Namespace) -> int:
    from arxiv_tui.runtime.registry import resolve_model

    with download_progress() as report:
        directory = resolve_model(args.name, report)
    print(f"{directory}\t({describe(directory)})")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from arxiv_tui.runtime.registry import unregister_model

    print(f"removed {args.name} ({unregister_model(args.name)})")
    return 0


def _index(args: argparse.Namespace) -> int:
    import os
    import shutil

    from huggingface_hub import constants

    from arxiv_tui.runtime.copyguard.index import build_index, index_directories
    from arxiv_tui.runtime.registry import resolve_model
    from arxiv_tui.trainer.data.selection import clean_texts

    with download_progress() as report:
        directory = resolve_model(args.name, report)
        texts = clean_texts(args.data, comma_list(args.categories), on_download=report)
        beside, in_data_dir = index_directories(args.name, directory)
        in_hf_cache = Path(constants.HF_HUB_CACHE) in directory.resolve().parents
        target = in_data_dir if in_hf_cache or not os.access(directory, os.W_OK) else beside
        building = target.with_name(f".{target.name}.partial")
        shutil.rmtree(building, ignore_errors=True)
        figures = build_index(texts, building)
    shutil.rmtree(target, ignore_errors=True)
    building.replace(target)
    print(f"indexed {figures['texts']:,} texts ({figures['grams']:,} 8-grams) in {target}")
    return 0
