"""Where arxiv-tui keeps its files, and the generation defaults.

Paths come from platformdirs, so `XDG_DATA_HOME` / `XDG_CONFIG_HOME` move them on Linux (the
tests rely on that). Nothing here touches the disk at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_config_dir, user_data_dir

APP_NAME = "arxiv-tui"
DEFAULT_MODEL = "Arcoson/distilgpt2-arxiv-csai"
DEFAULT_TEMPLATE = "arXiv Abstract: "


def data_dir() -> Path:
    """The user data directory: history database, registered fine-tuned models."""
    return Path(user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """The user config directory: `config.toml`."""
    return Path(user_config_dir(APP_NAME, appauthor=False))


@dataclass(frozen=True)
class GenerationDefaults:
    """The published usage of the model: 3 alternatives, temperature 0.8, top-p 0.9."""

    n: int = 3
    max_new_tokens: int = 40
    temperature: float = 0.8
    top_p: float = 0.9
    top_k: int = 50  # transformers' generate default, which the published numbers used
    repetition_penalty: float = 1.0
