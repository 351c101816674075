"""Which kind of server an `--api-base` names, and the key it gets."""

from __future__ import annotations

import os

from arxiv_tui.runtime.remote.ollama import PREFIX, OllamaServer, is_ollama
from arxiv_tui.runtime.remote.openai_server import OpenAIServer

DEFAULT_KEY_ENV = "ARXIV_TUI_API_KEY"


def api_key(key_env: str | None) -> str | None:
    """The key from the variable `key_env` names (default ARXIV_TUI_API_KEY), else OPENAI_API_KEY.
    Read at each start, never stored: not in the config, the history or any log."""
    return os.environ.get(key_env or DEFAULT_KEY_ENV) or os.environ.get("OPENAI_API_KEY") or None


def open_server(api_base: str, model: str | None, key_env: str | None = None) -> OpenAIServer | OllamaServer:
    """The server at `api_base`, connected (its model resolved); RemoteError if it cannot be used.
    `ollama:URL` is Ollama's own API; a base whose host answers Ollama's /api/version is too."""
    if api_base.startswith(PREFIX):
        server: OpenAIServer | OllamaServer = OllamaServer(api_base.removeprefix(PREFIX), model)
    else:
        root = api_base.rstrip("/").removesuffix("/v1")
        if root != api_base.rstrip("/") and is_ollama(root):
            server = OllamaServer(root, model)
        else:
            server = OpenAIServer(api_base, model, api_key(key_env))
    server.connect()
    return server
