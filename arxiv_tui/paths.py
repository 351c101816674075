"""Where arxiv-tui keeps its files.

Paths come from platformdirs, so `XDG_DATA_HOME` / `XDG_CONFIG_HOME` move them on Linux (the
tests rely on that). Nothing here touches the disk at import time.
"""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_config_dir, user_data_dir

APP_NAME = "arxiv-tui"


def data_dir() -> Path:
    """The user data directory: history database, registered fine-tuned models."""
    return Path(user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """The user config directory: `config.toml`."""
    return Path(user_config_dir(APP_NAME, appauthor=False))
