"""A compact GPT-2 for fast CPU decoding with a preallocated KV cache.

Hugging Face's GPT-2 stores its projections as `Conv1D` (weights transposed), which dynamic
int8 quantization ignores, and grows its cache by concatenation. This module holds the same
weights as `nn.Linear` layers in the chosen precision and writes keys and values in place, so
one decode step reads each weight once. It is built straight from a checkpoint's state dict,
so the full fp32 Hugging Face model is never materialised beside it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from arxiv_tui.runtime.kv_cache import KVCache
from arxiv_tui.runtime.weights import Checkpoint, load_state

_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_fast": lambda x: F.gelu(x, approximate="tanh"),
    "gelu": F.gelu,
    "relu": F.relu,
    "silu": F.silu,
}


@dataclass(frozen=True)
class GPT2Shape:
    """The hyper-parameters of a GPT-2 checkpoint that the forward pass needs."""

    n_layer: int
    n_head: int
    n_embd: int
    n_positions: int
    vocab_size: int
    layer_norm_epsilon: float
    activation: str
    scale_attn_weights: bool
    scale_attn_by_inverse_layer_idx: bool
    tie_word_embeddings: bool = True

    @classmethod
    def from_config(cls, config: Any) -> GPT2Shape:
        """Read the shape from a `transformers.GPT2Config`."""
        return cls(
            n_layer=config.n_layer,
            n_head=config.n_head,
            n_embd=config.n_embd,
            n_positions=config.n_positions,
            vocab_size=config.vocab_size,
            layer_norm_epsilon=config.layer_norm_epsilon,
            activation=config.activation_function,
            scale_attn_weights=config.scale_attn_weights,
            scale_attn_by_inverse_layer_idx=config.scale_attn_by_inverse_layer_idx,
            tie_word_embeddings=getattr(config, "tie_word_embeddings", True),
        )

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


def attention_scale(shape: GPT2Shape, layer_idx: int) -> float:
    """What block `layer_idx` scales its attention scores by (the config's two switches)."""
    scale = 1.0 / math.sqrt(shape.head_dim) if shape.scale_attn_weights else 1.0
    return scale / (layer_idx + 1) if shape.scale_attn_by_inverse_layer_idx else scale


class Block(nn.Module):
    """One pre-LayerNorm transformer block writing its keys and values into the cache."""

    def __init__(self, shape: GPT2Shape, layer_idx: int) -> None:
        super().__init__()
        c = shape.n_embd
        self.layer_idx = layer_idx
        self.n_head = shape.n_head
        self.ln_1 = nn.LayerNorm(c, eps=shape.layer_norm_epsilon)
        self.c_attn = nn.Linear(c, 3 * c)
        self.attn_proj = nn.Linear(c, c)
        self.ln_2 = nn.LayerNorm(c, eps=shape.layer_norm_epsilon)
        self.c_fc = nn.Linear(c, 4 * c)
        self.mlp_proj = nn.Linear(4 * c, c)
        self.act = activation(shape.activation)
        self.scale = attention_scale(shape, layer_idx)

    def forward(self, x: torch.Tensor, cache: KVCache, mask: torch.Tensor | None) -> torch.Tensor:
        batch, steps, width = x.shape
        start = cache.length
        q, k, v = self.c_attn(self.ln_1(x)).split(width, dim=2)
        q = q.view(batch, steps, self.n_head, -1).transpose(1, 2)
        keys = cache.keys[self.layer_idx]
        values = cache.values[self.layer_idx]
        keys[:, :, start : start + steps] = k.view(batch, steps, self.n_head, -1).transpose(1, 2)
        values[:, :, start : start + steps] = v.view(batch, steps, self.n_head, -1).transpose(1, 2)
        end = start + steps
        attn = F.scaled_dot_product_attention(q, keys[:, :, :end], values[:, :, :end], attn_mask=mask, scale=self.scale)
        x = x + self.attn_proj(attn.transpose(1, 2).reshape(batch, steps, width))
        mlp: torch.Tensor = self.mlp_proj(self.act(self.c_fc(self.ln_2(x))))
        return x + mlp


class GPT2(nn.Module):
    """GPT-2 language model over a `KVCache`; returns next-token logits of the last position."""

    def __init__(self, shape: GPT2Shape) -> None:
        super().__init__()
        self.shape = shape
        self.wte = nn.Embedding(shape.vocab_size, shape.n_embd)
        self.wpe = nn.Embedding(shape.n_positions, shape.n_embd)
        self.blocks = nn.ModuleList(Block(shape, i) for i in range(shape.n_layer))
        self.ln_f = nn.LayerNorm(shape.n_embd, eps=shape.layer_norm_epsilon)
        # Tied to wte in every GPT-2 checkpoint; a separate Linear so int8 can quantize it.
        self.lm_head: nn.Module = nn.Linear(shape.n_embd, shape.vocab_size, bias=False)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of activations and of the cache (the embeddings may be stored narrower)."""
        return self.ln_f.weight.dtype

    def new_cache(self, batch: int, capacity: int) -> KVCache:
        s = self.shape
        return KVCache(s.n_layer, s.n_head, s.head_dim, batch, capacity, self.dtype)

    def forward(self, ids: torch.Tensor, cache: KVCache, all_positions: bool = False) -> torch.Tensor:
        """Run `ids` [batch, steps] after the cache's filled positions; logits are float32.

        Returns [batch, vocab] for the last position, or [batch, steps, vocab] with
        `all_positions` (used to score a whole text).
        """
        steps = ids.shape[1]
        start = cache.length
        if start + steps > cache.capacity:
            raise ValueError(f"cache holds {cache.capacity} positions, asked for {start + steps}")
        positions = torch.arange(start, start + steps)
        x = self.wte(ids).to(self.dtype) + self.wpe(positions).to(self.dtype)
        mask = None
        if steps > 1:  # queries see every cached key and the new keys up to their own position
            key_pos = torch.arange(start + steps)
            mask = key_pos[None, :] <= positions[:, None]
        for block in self.blocks:
            x = block(x, cache, mask)
        cache.length = start + steps
        x = self.ln_f(x if all_positions else x[:, -1])
        logits: torch.Tensor = self.lm_head(x)
        return logits.float()


def _hf_key(name: str) -> str:
    """Our parameter name to the Hugging Face GPT-2 checkpoint's (without `transformer.`)."""
    if name.startswith("blocks."):
        _, idx, rest = name.split(".", 2)
        rest = rest.replace("attn_proj", "attn.c_proj").replace("c_attn", "attn.c_attn")
        rest = rest.replace("c_fc", "mlp.c_fc").replace("mlp_proj", "mlp.c_proj")
        return f"h.{idx}.{rest}"
    return name


def conv1d_weight_as_linear(weight: torch.Tensor) -> torch.Tensor:
    """Hugging Face's Conv1D stores a projection's weight [in, out]; nn.Linear wants [out, in]."""
    return weight.t().contiguous()


def is_conv1d_weight(key: str) -> bool:
    """Whether checkpoint tensor `key` is a Conv1D projection's weight (stored transposed)."""
    return key.endswith(".weight") and any(p in key for p in ("c_attn", "c_proj", "c_fc"))


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """GPT-2's activation `name` as one fused torch call ("gelu_new" is tanh-GELU, which the
    reference writes as 7 tensor ops)."""
    if name not in _ACTIVATIONS:
        raise ValueError(f"unsupported activation {name!r}")
    return _ACTIVATIONS[name]


def build_gpt2(shape: GPT2Shape, checkpoint: Checkpoint, dtype: torch.dtype) -> GPT2:
    """Build the model in `dtype` from a Hugging Face GPT-2 checkpoint, tensor by tensor.

    Conv1D weights are stored transposed (see `conv1d_weight_as_linear`). KeyError/ValueError
    name a missing or misshapen tensor.
    """
    with torch.device("meta"):
        model = GPT2(shape)
    separate_head = not shape.tie_word_embeddings and "lm_head.weight" in checkpoint
    state: dict[str, torch.Tensor] = {}
    for name, parameter in model.named_parameters():
        if name == "lm_head.weight" and not separate_head:
            continue
        key = name if name == "lm_head.weight" else _hf_key(name)
        if is_conv1d_weight(key):
            stored = tuple(reversed(parameter.shape))
            state[name] = conv1d_weight_as_linear(checkpoint.read_checked(key, stored, dtype))
        else:
            state[name] = checkpoint.read_checked(key, tuple(parameter.shape), dtype)
    load_state(model, state, tie_head_to=None if separate_head else model.wte)
    return model
