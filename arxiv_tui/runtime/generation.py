"""What a generation request asks for and what it streams back: plain data, no torch.

The app builds these in its own process and sends them to the engine's process (see
`arxiv_tui.runtime.engine_process`), so this module must stay free of heavy imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_MODEL = "Arcoson/distilgpt2-arxiv-csai"
DEFAULT_TEMPLATE = "arXiv Abstract: "


@dataclass(frozen=True)
class GenerationDefaults:
    """The published usage of the model: 3 alternatives, temperature 0.8, top-p 0.9."""

    n: int = 3
    max_new_tokens: int = 40
    temperature: float = 0.8
    top_p: float = 0.9
    top_k: int = 50  # transformers' generate default, which the published numbers used
    repetition_penalty: float = 1.0


_DEFAULTS = GenerationDefaults()

FINISH_EOS = "eos"
FINISH_LENGTH = "length"
FINISH_STOP = "stop"
FINISH_CANCELLED = "cancelled"


@dataclass(frozen=True)
class SamplingParams:
    """How the next token is chosen. `greedy` (or temperature 0) is argmax."""

    temperature: float = _DEFAULTS.temperature
    top_k: int = _DEFAULTS.top_k
    top_p: float = _DEFAULTS.top_p
    repetition_penalty: float = _DEFAULTS.repetition_penalty
    greedy: bool = False

    @property
    def is_greedy(self) -> bool:
        return self.greedy or self.temperature == 0.0


@dataclass(frozen=True)
class GenerationSettings:
    """What one request asks for."""

    n: int = 3
    max_new_tokens: int = 40
    sampling: SamplingParams = field(default_factory=SamplingParams)
    seed: int | None = None
    stop_at_sentence_end: bool = False
    ignore_eos: bool = False  # benchmarks: exactly max_new_tokens for every alternative

    def validate(self, context_length: int) -> None:
        """ValueError with a user-facing message for settings no request can honour."""
        s = self.sampling
        if self.n < 1:
            raise ValueError(f"the number of alternatives must be at least 1, not {self.n}")
        if not 1 <= self.max_new_tokens < context_length:
            raise ValueError(f"max new tokens must be between 1 and {context_length - 1}, not {self.max_new_tokens}")
        if s.temperature < 0:
            raise ValueError(f"temperature must be 0 or more, not {s.temperature}")
        if not 0 < s.top_p <= 1:
            raise ValueError(f"top-p must be in (0, 1], not {s.top_p}")
        if s.top_k < 0:
            raise ValueError(f"top-k must be 0 (off) or more, not {s.top_k}")
        if s.repetition_penalty <= 0:
            raise ValueError(f"repetition penalty must be above 0, not {s.repetition_penalty}")


def merged(deltas: list[Delta]) -> dict[int, tuple[str, str | None]]:
    """Each alternative's text and end in a batch of deltas: one change per card, however many
    tokens the batch holds."""
    merged: dict[int, tuple[str, str | None]] = {}
    for delta in deltas:
        text, _ = merged.get(delta.index, ("", None))
        merged[delta.index] = (text + delta.text, delta.finish_reason)
    return merged


@dataclass(frozen=True)
class Delta:
    """New text for alternative `index`; `finish_reason` is set on its last delta."""

    index: int
    text: str
    finish_reason: str | None = None
