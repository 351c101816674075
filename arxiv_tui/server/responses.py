"""The JSON bodies of OpenAI's text-completion API, built from the engine's results."""

from __future__ import annotations

import math
import time
import uuid
from typing import TYPE_CHECKING, Any

from arxiv_tui.runtime.settings import FINISH_LENGTH

if TYPE_CHECKING:
    from arxiv_tui.runtime.confidence import DraftScores


def finish_reason(ours: str | None) -> str | None:
    """OpenAI's finish_reason: "length" at the token limit, "stop" for an end token or a stop string."""
    if ours is None:
        return None
    return "length" if ours == FINISH_LENGTH else "stop"


class Completion:
    """One request's id, time and model, shared by its chunks."""

    def __init__(self, model: str) -> None:
        self.id = f"cmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model

    def body(self, choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if usage is not None:
            body["usage"] = usage
        return body


def choice(index: int, text: str, reason: str | None, logprobs: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"index": index, "text": text, "logprobs": logprobs, "finish_reason": reason}


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def prompt_logprobs(scores: DraftScores, token_text: list[str], top: int) -> dict[str, Any]:
    """OpenAI's `logprobs` object for an echoed prompt: its tokens, each one's log-probability
    (null for text that nothing precedes), the `top` likeliest at each position and where each
    token starts. `token_text` names the token ids of the likeliest."""
    tokens: list[str] = []
    logprobs: list[float | None] = []
    tops: list[dict[str, float] | None] = []
    offsets: list[int] = []
    first = scores.tokens[0].start if scores.tokens else len(scores.text)
    if first:  # the opening token: the model saw nothing before it
        tokens, logprobs, tops, offsets = [scores.text[:first]], [None], [None], [0]
    for scored in scores.tokens:
        tokens.append(scores.text[scored.start : scored.end])
        offsets.append(scored.start)
        logprobs.append(math.log(max(scored.prob, 1e-45)))  # JSON has no -Infinity
        tops.append({token_text[t]: math.log(p) for t, p in scored.top[:top] if p > 0} if top else None)
    return {"tokens": tokens, "token_logprobs": logprobs, "top_logprobs": tops, "text_offset": offsets}
