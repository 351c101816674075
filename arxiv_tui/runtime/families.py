"""Model families: which runtime model a checkpoint's config asks for, chosen by its `model_type`.

GPT-2 has its own module; Llama, Mistral, Qwen2 and Qwen3 (and SmolLM, which is Llama) share
the Llama-style decoder with switches. Everything the engine, the confidence scorer and the
benchmarks do with a model goes through `DecoderModel`, so no caller knows the family.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # torch is imported where a model is built: the registry reads this module too
    import torch

    from arxiv_tui.runtime.kv_cache import Cache
    from arxiv_tui.runtime.weights import Checkpoint

SUPPORTED_FAMILIES = ("gpt2", "llama", "mistral", "qwen2", "qwen3")
# The most tokens of context the runtime keeps, whatever a model allows (Qwen3: 40,960): an
# abstract and its paper's opening fit, and prefilling more on a CPU takes longer than a writer
# waits. Longer drafts lose tokens from the left, as for any prompt over a model's context.
CONTEXT_CAP = 2048


class DecoderModel(Protocol):
    """A runtime model of any family: a forward pass over a preallocated key/value cache."""

    @property
    def dtype(self) -> torch.dtype: ...

    def new_cache(self, batch: int, capacity: int) -> Cache: ...

    def __call__(self, ids: torch.Tensor, cache: Cache, all_positions: bool = False) -> torch.Tensor: ...


@dataclass(frozen=True)
class Architecture:
    """What a config says about running its model here."""

    family: str
    context_length: int  # positions the runtime uses: the model's, capped (see CONTEXT_CAP)


def unsupported(model_type: object) -> str:
    """The one-line reason a `model_type` cannot run here."""
    kind = model_type if isinstance(model_type, str) and model_type else "unknown"
    return f"holds a {kind} model; arxiv-tui runs {', '.join(SUPPORTED_FAMILIES)} models"


def architecture(config: Any) -> Architecture:
    """The family and usable context of a transformers config; ValueError if unsupported."""
    family = config.model_type
    if family not in SUPPORTED_FAMILIES:
        raise ValueError(unsupported(family))
    positions = config.n_positions if family == "gpt2" else config.max_position_embeddings
    # Mistral (and Qwen with use_sliding_window) attends within a window; keeping the context
    # no longer than it makes full attention exact, so the runtime needs no windowed kernel.
    window = getattr(config, "sliding_window", None) if family != "gpt2" else None
    limit = min(positions, window) if window else positions
    return Architecture(family, min(limit, CONTEXT_CAP))


def build(config: Any, checkpoint: Checkpoint, dtype: torch.dtype) -> DecoderModel:
    """The runtime model of `config`'s family, its weights read from `checkpoint` in `dtype`.
    KeyError/ValueError name a missing or misshapen tensor."""
    arch = architecture(config)
    if arch.family == "gpt2":
        from arxiv_tui.runtime.gpt2 import GPT2Shape, build_gpt2

        return build_gpt2(GPT2Shape.from_config(config), checkpoint, dtype)
    from arxiv_tui.runtime.llama import build_llama

    return build_llama(config, arch.context_length, checkpoint, dtype)
