"""The model's prompt: the template in front of the user's text, cut to fit the context.

The template and text are tokenized together (GPT-2 merges the template's trailing space into
the next word, as in training). A prompt too long for the context loses tokens from the left,
just after the template, in steps of `WINDOW_STEP` tokens so that the next keystroke usually
keeps the same window and can reuse its KV cache.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

WINDOW_STEP = 64


def with_template(text: str, template: str, raw: bool) -> str:
    """`text` with the template in front, unless raw or it already starts with it."""
    if raw or not template or text.startswith(template):
        return text
    return template + text


def fit_prompt(ids: list[int], head: list[int], budget: int) -> list[int]:
    """`ids` if within `budget` tokens, else `head` + the latest tokens that fit.

    `head` is the start token and the template's own tokens (empty for raw prompts); `ids` starts with them.
    """
    if len(ids) <= budget:
        return ids
    room = budget - len(head)
    if room <= 0:
        raise ValueError(f"the context holds {budget} prompt tokens, fewer than the template needs")
    cut = len(ids) - room
    cut = min(math.ceil(cut / WINDOW_STEP) * WINDOW_STEP, len(ids) - 1)
    cut = max(cut, len(ids) - room)
    return head + ids[cut:]


def prompt_ids(
    text: str,
    template: str,
    raw: bool,
    budget: int,
    encode: Callable[[str], list[int]],
    start: Sequence[int] = (),
    fallback_id: int | None = None,
) -> list[int]:
    """Token ids of the prompt for `text`, at most `budget` long and never empty.

    `start` (a BOS the tokenizer adds) leads every prompt, and stays when the text is cut.
    """
    full = with_template(text, template, raw)
    ids = [*start, *encode(full)]
    if not ids:
        if fallback_id is None:
            raise ValueError("the prompt is empty and the tokenizer has no start token")
        return [fallback_id]
    head = [*start, *(encode(template.rstrip()) if full.startswith(template) and template else [])]
    return fit_prompt(ids, head, budget)


def shared_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens `a` and `b` have in common (how much of a cache stays valid)."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
