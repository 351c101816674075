"""Turn a model name into a directory on disk, and check that it holds a model the runtime runs.

A name is, in order: an existing local directory; a fine-tuned model registered in the data
directory (`arxiv-tui finetune` registers its output); or a Hugging Face Hub id, fetched with
`huggingface_hub` into the standard HF cache (so `HF_HOME` and `HF_HUB_OFFLINE` apply).
Every failure is a `ModelError` whose message is one line a user can act on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from arxiv_tui import atomic
from arxiv_tui.errors import ReportedError
from arxiv_tui.paths import data_dir
from arxiv_tui.runtime.families import SUPPORTED_FAMILIES, unsupported
from arxiv_tui.runtime.model_template import TEMPLATE_FILE

if TYPE_CHECKING:
    from arxiv_tui.runtime.fetch import FetchProgress

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_HUB_FILES = [
    "config.json",
    "generation_config.json",
    "*.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "README.md",
    TEMPLATE_FILE,
]
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


class ModelError(ReportedError):
    """A model that cannot be found or used: exit 2 when the name or directory is at fault,
    1 when the network is."""


def registry_path() -> Path:
    """The JSON file mapping registered model names to their directories."""
    return data_dir() / "models.json"


def registered_models() -> dict[str, Path]:
    """Names of registered fine-tuned models and where they live."""
    try:
        entries = json.loads(registry_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the model registry {registry_path()}: {exc}") from None
    return {name: Path(path) for name, path in entries.items()}


def _write_registry(entries: dict[str, Path]) -> None:
    path = registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps({k: str(v) for k, v in sorted(entries.items())}, indent=2) + "\n")


def register_model(name: str, directory: Path) -> None:
    """Make `directory` loadable as `--model name`."""
    check_model_dir(directory)
    entries = registered_models()
    entries[name] = directory.resolve()
    _write_registry(entries)


def unregister_model(name: str) -> Path:
    """Forget a registered model; its files are deleted only if they live in the data dir."""
    entries = registered_models()
    if name not in entries:
        raise ModelError(f"no registered model named {name!r} (see `arxiv-tui models list`)")
    directory = entries.pop(name)
    _write_registry(entries)
    if directory.is_relative_to(data_dir()):
        shutil.rmtree(directory, ignore_errors=True)
    return directory


def check_model_dir(directory: Path) -> None:
    """Raise ModelError unless `directory` holds a config of a supported family, weights and a tokenizer."""
    if not directory.is_dir():
        raise ModelError(f"model directory {directory} does not exist")
    config_file = directory / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{directory} is not a model directory: it has no config.json") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"{config_file} is not valid JSON: {exc}") from None
    kind = config.get("model_type") if isinstance(config, dict) else None
    if kind not in SUPPORTED_FAMILIES:
        raise ModelError(f"{directory} {unsupported(kind)}")
    if not any((directory / name).is_file() for name in _WEIGHT_FILES):
        raise ModelError(f"{directory} has no weights (model.safetensors or pytorch_model.bin)")
    has_tokenizer = (directory / "tokenizer.json").is_file() or (
        (directory / "vocab.json").is_file() and (directory / "merges.txt").is_file()
    )
    if not has_tokenizer:
        raise ModelError(f"{directory} has no tokenizer (tokenizer.json, or vocab.json + merges.txt)")


def _download(repo_id: str, on_progress: Callable[[FetchProgress], None] | None) -> Path:
    """Fetch a Hub model into the HF cache (or find it there), reporting bytes to `on_progress`."""
    from arxiv_tui.runtime.fetch import FetchFailed, fetch_repo

    try:
        return fetch_repo(repo_id, _HUB_FILES, on_progress)
    except FetchFailed as failed:
        if failed.reason == "gated":
            raise ModelError(
                f"{repo_id} is gated on the Hugging Face Hub: accept its licence on its page, then set "
                "HF_TOKEN to a token of that account"
            ) from None
        if failed.reason == "unreadable":
            raise ModelError(
                f"{repo_id!r} is neither a local directory, a registered model, nor a model on the "
                "Hugging Face Hub you can read (a private or gated one needs HF_TOKEN)"
            ) from None
        if failed.reason == "offline":
            raise ModelError(
                f"cannot reach the Hugging Face Hub and {repo_id} is not in the cache; pass a local "
                "model directory with --model, or train one with `arxiv-tui finetune`",
                exit_code=1,
            ) from None
        raise ModelError(str(failed), exit_code=1) from None


def resolve_model(name: str, on_progress: Callable[[FetchProgress], None] | None = None) -> Path:
    """The directory holding model `name`, downloading it from the Hub if needed (reporting the
    bytes to `on_progress`)."""
    local = Path(name).expanduser()
    if local.exists():
        check_model_dir(local)
        return local
    registered = registered_models()
    if name in registered:
        check_model_dir(registered[name])
        return registered[name]
    looks_like_path = name.startswith((".", "/", "~")) or os.sep + os.sep in name
    if looks_like_path or not _HUB_ID.match(name):
        raise ModelError(f"model directory {name} does not exist")
    directory = _download(name, on_progress)
    check_model_dir(directory)
    return directory
