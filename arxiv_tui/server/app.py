"""`arxiv-tui serve`'s routes: OpenAI-compatible `/v1/models` and `/v1/completions`, on Starlette.

A streamed request is Server-Sent Events (sse-starlette): one chunk per alternative's new text,
as vLLM sends them, then `[DONE]`. When the client disconnects, sse-starlette cancels the
stream's generator, whose `finally` sets the request's cancel event: the engine stops it at its
next step. Every error is OpenAI's JSON shape, and the server goes on serving.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from arxiv_tui.runtime.settings import Delta
from arxiv_tui.server.errors import ApiError
from arxiv_tui.server.responses import Completion, choice, finish_reason, prompt_logprobs, usage
from arxiv_tui.server.schema import CompletionRequest, parse_request
from arxiv_tui.server.worker import Busy, Failed, Finished, Job, JobEvent

if TYPE_CHECKING:
    from arxiv_tui.server.worker import EngineWorker

RETRY_AFTER_S = 1
COALESCE_S = 0.025  # the most often an alternative's text goes to a streaming client


class CompletionsApi:
    """The server's state: the engine's worker, the model's name, the key (None: no key asked)."""

    def __init__(self, worker: EngineWorker, model: str, api_key: str | None) -> None:
        self.worker, self.model, self.api_key = worker, model, api_key
        self.token_text = [b.decode("utf-8", errors="replace") for b in worker.engine.token_table]

    def app(self) -> Starlette:
        routes = [Route("/v1/models", self.models, methods=["GET"])]
        routes.append(Route("/v1/completions", self.completions, methods=["POST"]))
        return Starlette(routes=routes, exception_handlers={ApiError: _error_response})

    def _check_key(self, request: Request) -> None:
        if self.api_key is None:
            return
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), self.api_key.encode()):
            raise ApiError(401, "a valid API key is needed (Authorization: Bearer KEY)", "authentication_error")

    async def models(self, request: Request) -> Response:
        self._check_key(request)
        listed = {"id": self.model, "object": "model", "created": 0, "owned_by": "arxiv-tui"}
        return JSONResponse({"object": "list", "data": [listed]})

    async def completions(self, request: Request) -> Response:
        self._check_key(request)
        body = parse_request(await request.body())
        if body.model != self.model:
            raise ApiError(404, f"model {body.model!r} is not served here; this server serves {self.model!r}",
                           param="model", code="model_not_found")  # fmt: skip
        prompt, settings = body.text, body.settings()
        engine = self.worker.engine
        prompt_tokens = engine.prompt_length(prompt)
        if prompt_tokens + body.max_tokens > engine.context_length:
            raise ApiError(
                400,
                f"the prompt is {prompt_tokens} tokens and max_tokens {body.max_tokens}; the model's context "
                f"holds {engine.context_length}",
                param="prompt",
                code="context_length_exceeded",
            )
        job = Job(prompt, None if body.echo and body.max_tokens == 0 else settings, asyncio.get_running_loop())
        try:
            self.worker.submit(job)
        except Busy:
            raise ApiError(503, "the server is busy; try again shortly", "server_error",
                           headers={"Retry-After": str(RETRY_AFTER_S)}) from None  # fmt: skip
        completion = Completion(self.model)
        if job.settings is None:
            return await self._echo(body, job, completion, prompt_tokens)
        if body.stream:
            chunks = self._chunks(body, job, completion, prompt_tokens)
            return EventSourceResponse(chunks, ping=15, send_timeout=30)
        return await self._whole(request, body, job, completion, prompt_tokens)

    async def _chunks(
        self, body: CompletionRequest, job: Job, completion: Completion, prompt_tokens: int
    ) -> AsyncIterator[str]:
        """The SSE data of a streamed request: one choice per chunk, then usage if asked, then [DONE]."""
        try:
            if body.echo:
                for index in range(body.n):
                    yield json.dumps(completion.body([choice(index, body.text, None)]))
            next_send = 0.0  # when the next chunk may go: the first goes at once
            while True:
                event = await _merged(job, next_send)
                next_send = time.monotonic() + COALESCE_S
                if isinstance(event, Failed):
                    yield json.dumps({"error": {"message": event.message, "type": "server_error"}})
                    break
                if isinstance(event, Finished):
                    if (body.stream_options or {}).get("include_usage"):
                        done = sum(len(a.tokens) for a in event.alternatives)
                        yield json.dumps(completion.body([], usage(prompt_tokens, done)))
                    break
                assert isinstance(event, list)
                for delta in event:
                    yield json.dumps(completion.body([_choice_of(delta)]))
            yield "[DONE]"
        finally:
            job.cancel.set()  # a client gone mid-stream: the engine stops at its next step

    async def _whole(
        self, request: Request, body: CompletionRequest, job: Job, completion: Completion, prompt_tokens: int
    ) -> Response:
        """A request answered in one body; a client that leaves meanwhile cancels it."""
        texts = ["" for _ in range(body.n)]
        reasons: list[str | None] = [None] * body.n
        try:
            while True:
                try:
                    event = await asyncio.wait_for(job.events.get(), timeout=0.25)
                except TimeoutError:
                    if await request.is_disconnected():
                        return Response(status_code=499)
                    continue
                if isinstance(event, Failed):
                    raise ApiError(500, event.message, "server_error")
                if isinstance(event, Finished):
                    done = sum(len(a.tokens) for a in event.alternatives)
                    break
                assert isinstance(event, list)
                for delta in event:
                    texts[delta.index] += delta.text
                    reasons[delta.index] = finish_reason(delta.finish_reason) or reasons[delta.index]
        finally:
            job.cancel.set()
        prefix = body.text if body.echo else ""
        choices = [choice(i, prefix + text, reasons[i]) for i, text in enumerate(texts)]
        return JSONResponse(completion.body(choices, usage(prompt_tokens, done)))

    async def _echo(self, body: CompletionRequest, job: Job, completion: Completion, prompt_tokens: int) -> Response:
        """echo with max_tokens 0: the prompt back, with its tokens' log-probabilities if asked."""
        scores = await job.events.get()
        if isinstance(scores, Failed):
            raise ApiError(500, scores.message, "server_error")
        logprobs: dict[str, Any] | None = None
        if body.logprobs is not None:
            logprobs = prompt_logprobs(scores, self.token_text, body.logprobs)  # type: ignore[arg-type]
        choices = [choice(i, body.text, "length", logprobs) for i in range(body.n)]
        return JSONResponse(completion.body(choices, usage(prompt_tokens, 0)))


async def _merged(job: Job, not_before: float) -> JobEvent:
    """The next event, not before `not_before` (monotonic seconds): the steps' deltas that queue up
    until then come as one, merged by alternative.

    One chunk per token and alternative (180 for 3 x 60 tokens) cost the server's and the
    client's Python 18% of a request's time on two cores; a chunk at most every COALESCE_S per
    alternative, -7% to +14% in three runs (`bench --serve`), and 25 ms is below what a reader of
    streaming text can tell.
    """
    event = await job.events.get()
    if not isinstance(event, list):
        return event
    wait = not_before - time.monotonic()
    if wait > 0:
        await asyncio.sleep(wait)
    merged: dict[int, Delta] = {}
    while True:
        for delta in event:
            before = merged.get(delta.index)
            merged[delta.index] = Delta(delta.index, (before.text if before else "") + delta.text, delta.finish_reason)
        if job.events.empty():
            return list(merged.values())
        peeked = job.events.get_nowait()
        if not isinstance(peeked, list):  # the end: hand back what is merged, and the end after it
            job.events.put_nowait(peeked)  # the queue is this handler's alone: the order holds
            return list(merged.values())
        event = peeked


def _choice_of(delta: Delta) -> dict[str, Any]:
    return choice(delta.index, delta.text, finish_reason(delta.finish_reason))


async def _error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()
