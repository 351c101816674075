"""Stand-ins for completion servers, as `fake_hub.py` stands in for the Hub: an OpenAI-compatible
one that streams like vLLM (one choice per chunk, interleaved, `finish_reason` null until that
choice ends, a last usage chunk with no choices) or ignores `n` like Ollama's /v1, and Ollama's
own NDJSON API. Each records the requests it got and the streams its clients dropped."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

MODEL = "lab/big-model"


def script(index: int) -> list[str]:
    """Alternative `index`'s text, in the pieces a server streams."""
    return [f"Alternative {index}", " finds", " a", " bound.", " Then", " it", " goes", " on."]


@dataclass
class StandIn:
    ollama: bool = False  # Ollama's own API beside its /v1
    honours_n: bool = True
    status: int | None = None  # answer every completion with this error status
    cut_after: int | None = None  # drop the connection after this many chunks
    hang_s: float = 0.0  # wait this long before answering
    delay_s: float = 0.0  # between chunks
    requests: list[dict] = field(default_factory=list)
    headers: list[dict] = field(default_factory=list)
    dropped: int = 0  # streams whose client went away before the end

    def app(self) -> Starlette:
        routes = [Route("/v1/models", self.models), Route("/v1/completions", self.completions, methods=["POST"])]
        if self.ollama:
            routes += [
                Route("/api/version", self.ollama_version),
                Route("/api/tags", self.ollama_tags),
                Route("/api/generate", self.ollama_generate, methods=["POST"]),
            ]
        return Starlette(routes=routes)

    async def models(self, request: Request) -> JSONResponse:
        self.headers.append(dict(request.headers))
        if self.status in (401, 403):
            return _error(self.status)
        return JSONResponse({"object": "list", "data": [{"id": MODEL, "object": "model"}]})

    async def completions(self, request: Request):
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        await asyncio.sleep(self.hang_s)
        if self.status:
            return _error(self.status)
        if body.get("echo"):  # as a server without prompt log-probabilities answers
            return _error(400)
        n = body.get("n", 1) if self.honours_n else 1
        return EventSourceResponse(self._chunks(n, body.get("max_tokens", 16)))

    async def _chunks(self, n: int, max_tokens: int):
        pieces = [script(i)[:max_tokens] for i in range(n)]
        sent, finished = 0, False
        try:
            for step in range(max(len(p) for p in pieces)):
                for index, own in enumerate(pieces):  # interleaved: one choice per chunk
                    if step >= len(own):
                        continue
                    if self.cut_after is not None and sent >= self.cut_after:
                        raise ConnectionResetError("the stand-in drops the connection")
                    last = step == len(own) - 1
                    reason = ("length" if len(own) == max_tokens else "stop") if last else None
                    choice = {"index": index, "text": own[step], "logprobs": None, "finish_reason": reason}
                    yield json.dumps({"id": "cmpl-1", "object": "text_completion", "model": MODEL, "choices": [choice]})
                    sent += 1
                    await asyncio.sleep(self.delay_s)
            usage = {"prompt_tokens": 3, "completion_tokens": sent, "total_tokens": sent + 3}
            yield json.dumps({"id": "cmpl-1", "object": "text_completion", "choices": [], "usage": usage})
            yield "[DONE]"
            finished = True
        finally:
            self.dropped += not finished

    async def ollama_version(self, request: Request) -> JSONResponse:
        return JSONResponse({"version": "0.5.7"})

    async def ollama_tags(self, request: Request) -> JSONResponse:
        return JSONResponse({"models": [{"name": "llama3.2:1b"}]})

    async def ollama_generate(self, request: Request) -> StreamingResponse:
        body = await request.json()
        self.requests.append(body)
        index = len(self.requests) - 1

        async def lines():
            finished = False
            try:
                for piece in script(index):
                    yield json.dumps({"model": body["model"], "response": piece, "done": False}) + "\n"
                    await asyncio.sleep(self.delay_s)
                yield json.dumps({"model": body["model"], "response": "", "done": True, "done_reason": "stop"}) + "\n"
                finished = True
            finally:
                self.dropped += not finished

        return StreamingResponse(lines(), media_type="application/x-ndjson")


ERROR_MESSAGES = {
    400: "echo is not supported",
    401: "Incorrect API key",
    403: "not allowed",
    404: "no such model",
    429: "slow down",
}


def _error(status: int) -> JSONResponse:
    message = ERROR_MESSAGES.get(status, "the GPU fell over")
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}
    return JSONResponse(body, status_code=status)
