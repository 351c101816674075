"""The body of `POST /v1/completions`, read and checked: each mistake gets its own message.

Types are checked strictly (`"n": "3"` is a mistake, not 3), as OpenAI's API does; the ranges
are the engine's own (`arxiv_tui.runtime.settings`) plus the server's bounds on a request.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from arxiv_tui.runtime.settings import GenerationSettings, SamplingParams
from arxiv_tui.server.errors import ApiError

MAX_N = 8  # alternatives in one request: one batch on a CPU
MAX_STOPS = 4  # as OpenAI allows
MAX_TOP_LOGPROBS = 8  # the confidence pass's replacements


class CompletionRequest(BaseModel):
    """OpenAI's text-completion request, with vLLM's `top_k`; unknown fields are ignored."""

    model_config = ConfigDict(strict=True, extra="ignore")

    model: str
    prompt: str | list[str]
    max_tokens: int = Field(default=16, ge=0)
    n: int = Field(default=1, ge=1, le=MAX_N)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int = Field(default=-1, ge=-1)  # vLLM's: -1 (or 0) for every token
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    echo: bool = False
    logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)
    stream_options: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        """The one prompt (a list must hold exactly one)."""
        if isinstance(self.prompt, str):
            return self.prompt
        if len(self.prompt) != 1:
            raise ApiError(400, "prompt must be one string (or a list of one)", param="prompt")
        return self.prompt[0]

    @property
    def stops(self) -> tuple[str, ...]:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stops) > MAX_STOPS:
            raise ApiError(400, f"stop holds at most {MAX_STOPS} strings, not {len(stops)}", param="stop")
        return tuple(s for s in stops if s)

    def settings(self) -> GenerationSettings:
        """The engine's settings for this request (its context is checked by the caller)."""
        sampling = SamplingParams(temperature=self.temperature, top_p=self.top_p, top_k=max(self.top_k, 0))
        return GenerationSettings(
            n=self.n, max_new_tokens=max(self.max_tokens, 1), sampling=sampling, seed=self.seed, stop=self.stops
        )


def parse_request(body: bytes) -> CompletionRequest:
    """The request in `body`; ApiError 400 for JSON that does not parse, 422 for a field of the
    wrong type or out of range (its message names the field)."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    try:
        request = CompletionRequest.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or None
        raise ApiError(422, f"{field}: {error['msg']}", param=field, code="invalid_value") from None
    if request.logprobs is not None and not (request.echo and request.max_tokens == 0):
        raise ApiError(
            400,
            "logprobs are given for the prompt only: send them with echo: true and max_tokens: 0",
            param="logprobs",
        )
    if request.max_tokens == 0 and not request.echo:
        raise ApiError(400, "max_tokens must be at least 1 (0 only with echo)", param="max_tokens")
    return request
