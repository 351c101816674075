"""What a generation request asks for and what it streams back: plain data, no torch.

The app builds these in its own process and sends them to the engine's process (see
`arxiv_tui.runtime.protocol`), so this module must stay free of heavy imports.
"""

from __future__ import annotations

from collections.abc import Callable
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


GENERATION_DEFAULTS = GenerationDefaults()  # every default of a setting is read from here


@dataclass(frozen=True)
class Range:
    """Which values a setting takes, in words and as a check."""

    holds: Callable[[float], bool]
    words: str  # "at least 1", "in (0, 1]"


# The one definition of each generation setting's range: the engine, the command line, the
# config file and the settings dialog all check against it.
RANGES = {
    "n": Range(lambda v: v >= 1, "at least 1"),
    "max_new_tokens": Range(lambda v: v >= 1, "at least 1"),
    "temperature": Range(lambda v: v >= 0, "0 (greedy) or more"),
    "top_p": Range(lambda v: 0 < v <= 1, "in (0, 1]"),
    "top_k": Range(lambda v: v >= 0, "0 (off) or more"),
    "repetition_penalty": Range(lambda v: v > 0, "above 0"),
}
PRECISIONS = ("auto", "fp16", "bf16", "fp32", "int8", "int4")  # fp16, int8 and int4: inference only
# Which runtime runs a local model: OpenVINO where it is installed and the model converts, else
# PyTorch ("auto"); or one of them only.
RUNTIMES = ("auto", "openvino", "torch")
TRAINING_PRECISIONS = ("auto", "bf16", "fp32")


def check(name: str, value: float) -> None:
    """ValueError in the user's words if `value` is out of `name`'s range."""
    if not RANGES[name].holds(value):
        raise ValueError(f"{name} must be {RANGES[name].words}, not {value}")


FINISH_EOS = "eos"
FINISH_LENGTH = "length"
FINISH_STOP = "stop"
FINISH_CANCELLED = "cancelled"


@dataclass(frozen=True)
class SamplingParams:
    """How the next token is chosen. `greedy` (or temperature 0) is argmax."""

    temperature: float = GENERATION_DEFAULTS.temperature
    top_k: int = GENERATION_DEFAULTS.top_k
    top_p: float = GENERATION_DEFAULTS.top_p
    repetition_penalty: float = GENERATION_DEFAULTS.repetition_penalty
    greedy: bool = False

    @property
    def is_greedy(self) -> bool:
        return self.greedy or self.temperature == 0.0


@dataclass(frozen=True)
class GenerationSettings:
    """What one request asks for."""

    n: int = GENERATION_DEFAULTS.n
    max_new_tokens: int = GENERATION_DEFAULTS.max_new_tokens
    sampling: SamplingParams = field(default_factory=SamplingParams)
    seed: int | None = None
    stop_at_sentence_end: bool = False
    ignore_eos: bool = False  # benchmarks: exactly max_new_tokens for every alternative
    stop: tuple[str, ...] = ()  # strings that end an alternative (not shown), as OpenAI's `stop`

    def validate(self, context_length: int) -> None:
        """ValueError with a user-facing message for settings no request can honour."""
        s = self.sampling
        for name, value in (
            ("n", self.n),
            ("max_new_tokens", self.max_new_tokens),
            ("temperature", s.temperature),
            ("top_p", s.top_p),
            ("top_k", s.top_k),
            ("repetition_penalty", s.repetition_penalty),
        ):
            check(name, value)
        if self.max_new_tokens >= context_length:  # the model's own limit
            raise ValueError(
                f"max_new_tokens must be below the model's context of {context_length}, not {self.max_new_tokens}"
            )


@dataclass(frozen=True)
class Delta:
    """New text for alternative `index`; `finish_reason` is set on its last delta."""

    index: int
    text: str
    finish_reason: str | None = None
