"""Ollama's own API: `/api/generate` with `raw: true`, streamed as NDJSON (one JSON object a line).

Ollama's OpenAI-compatible `/v1` wraps a prompt in the model's chat template and ignores `n`;
its native endpoint continues the text as it is. One request per alternative, in parallel
(Ollama runs them in parallel where OLLAMA_NUM_PARALLEL allows). httpx2 (the HTTP client the
`openai` package and huggingface_hub already bring) streams the lines.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from arxiv_tui.runtime.remote.errors import RemoteError
from arxiv_tui.runtime.remote.openai_server import CONNECT_S, READ_S
from arxiv_tui.runtime.remote.run import Piece, Request, resolve_model
from arxiv_tui.runtime.settings import GenerationSettings

if TYPE_CHECKING:
    from arxiv_tui.runtime.confidence import DraftScores

PREFIX = "ollama:"


class _Lines:
    """The pieces of one streamed /api/generate response, for alternative `index`."""

    def __init__(self, response: Any, index: int) -> None:
        self._response, self._index = response, index

    def __iter__(self) -> Iterator[Piece]:
        for line in self._response.iter_lines():
            if not line.strip():
                continue
            data = json.loads(line)
            if "error" in data:  # an error after the stream began (the model failed to load)
                raise RemoteError(f"Ollama: {' '.join(str(data['error']).split())}")
            done = data.get("done", False)
            yield self._index, data.get("response", ""), (data.get("done_reason") or "stop") if done else None

    def close(self) -> None:
        self._response.close()


class OllamaServer:
    def __init__(self, root: str, model: str | None) -> None:
        import httpx2

        self.name = root.rstrip("/")
        self.model = model or ""
        self.http = httpx2.Client(base_url=self.name, timeout=httpx2.Timeout(READ_S, connect=CONNECT_S))

    def connect(self) -> None:
        """Check Ollama answers, and take the first model it has pulled when none was named."""
        hint = f"Ollama at {self.name} has no models; `ollama pull` one"
        self.model = resolve_model(self.name, self.model, self._pulled, hint)

    def _pulled(self) -> list[str]:
        response = self.http.get("/api/tags")
        response.raise_for_status()
        return [m["name"] for m in response.json().get("models", [])]

    def ignores_n(self) -> None:
        """Every request carries one alternative already."""

    def score(self, draft: str, template: str, intern: Callable[[str], int]) -> DraftScores:
        """Ollama's API gives no log-probabilities of a prompt: refused, as a server refuses it."""
        raise RemoteError(f"Ollama at {self.name} gives no log-probabilities of a prompt", 2)

    def plan(self, prompt: str, settings: GenerationSettings, indexes: list[int]) -> list[Request]:
        return [Request([i], partial(self._open, prompt, settings, i)) for i in indexes]

    def _open(self, prompt: str, settings: GenerationSettings, index: int) -> _Lines:
        s = settings.sampling
        options: dict[str, Any] = {"num_predict": settings.max_new_tokens}
        if s.is_greedy:
            options["temperature"] = 0.0
        else:
            options.update(temperature=s.temperature, top_p=s.top_p, top_k=s.top_k)
        if settings.seed is not None:
            options["seed"] = settings.seed + index
        if settings.stop:
            options["stop"] = list(settings.stop)
        body = {"model": self.model, "prompt": prompt, "raw": True, "stream": True, "options": options}
        response = self.http.send(self.http.build_request("POST", "/api/generate", json=body), stream=True)
        if response.is_error:
            response.read()  # for the server's own message
            response.raise_for_status()
        return _Lines(response, index)


def is_ollama(root: str) -> bool:
    """Whether `root` is an Ollama server (it answers /api/version); False when unsure."""
    import httpx2

    try:
        response = httpx2.get(root.rstrip("/") + "/api/version", timeout=CONNECT_S)
        return response.status_code == 200 and "version" in response.json()
    except Exception:  # noqa: BLE001 - not reachable, not JSON: not known to be Ollama
        return False
