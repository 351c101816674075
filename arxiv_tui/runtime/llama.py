"""A Llama-style decoder for fast CPU decoding: Llama, Mistral, Qwen2, Qwen3 and SmolLM checkpoints.

The same pre-norm block with RMSNorm, SwiGLU, rotary embeddings (Hugging Face's half-split
layout) and grouped-query attention, with the switches these families differ by: key/value
heads, an explicit head size, biases on q/k/v (Qwen2) or on every projection, per-head RMSNorm
of queries and keys before the rotation (Qwen3), the rotary base and scaling, a tied or untied
head. q/k/v are one fused linear and gate/up another, so a decode step is few large products.
Keys and values go into a preallocated `KVCache` of the key/value heads only; the query heads of
a group attend to their shared keys as rows of one product, so nothing is repeated in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from arxiv_tui.runtime.kv_cache import KVCache
from arxiv_tui.runtime.weights import Checkpoint, load_state

ROPE_TYPES = ("default", "linear", "llama3", "yarn")  # the ones whose tables are fixed up front


@dataclass(frozen=True)
class LlamaShape:
    """What the forward pass needs from a Llama-family config."""

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab_size: int
    eps: float
    qkv_bias: bool
    o_bias: bool
    mlp_bias: bool
    qk_norm: bool
    tie_word_embeddings: bool
    activation: str

    @classmethod
    def from_config(cls, config: Any) -> LlamaShape:
        """Read the shape from a transformers Llama/Mistral/Qwen2/Qwen3 config."""
        family = config.model_type
        attention_bias = bool(getattr(config, "attention_bias", False))
        heads = config.num_attention_heads
        return cls(
            layers=config.num_hidden_layers,
            hidden=config.hidden_size,
            heads=heads,
            kv_heads=getattr(config, "num_key_value_heads", None) or heads,
            head_dim=getattr(config, "head_dim", None) or config.hidden_size // heads,
            intermediate=config.intermediate_size,
            vocab_size=config.vocab_size,
            eps=config.rms_norm_eps,
            qkv_bias=True if family == "qwen2" else attention_bias,  # Qwen2 hard-codes them
            o_bias=False if family == "qwen2" else attention_bias,
            mlp_bias=bool(getattr(config, "mlp_bias", False)),
            qk_norm=family == "qwen3",
            tie_word_embeddings=bool(getattr(config, "tie_word_embeddings", False)),
            activation=getattr(config, "hidden_act", "silu"),
        )

    @property
    def group(self) -> int:
        """Query heads per key/value head."""
        return self.heads // self.kv_heads


def rotary_tables(config: Any, positions: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and signed sin [positions, 1, head_dim] of the config's rotary embedding, as transformers
    computes them (its own functions for scaled variants); ValueError for a type that changes with
    length. The sin's first half is negated, so rotating is x * cos + roll(x, half) * sin."""
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    parameters = getattr(config, "rope_parameters", None) or {}
    rope_type = parameters.get("rope_type", "default")
    if rope_type not in ROPE_TYPES:
        raise ValueError(f"rope_scaling type {rope_type!r} is not supported (supported: {', '.join(ROPE_TYPES)})")
    if rope_type == "default":
        shape = LlamaShape.from_config(config)
        dim = shape.head_dim
        base = parameters.get("rope_theta", getattr(config, "rope_theta", 10000.0))
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))
        scaling = 1.0
    else:
        inv_freq, scaling = ROPE_INIT_FUNCTIONS[rope_type](config, "cpu")
    freqs = torch.arange(positions, dtype=torch.float)[:, None] * inv_freq.float()[None, :]
    angles = torch.cat((freqs, freqs), dim=-1)
    signed = torch.cat((-freqs.sin(), freqs.sin()), dim=-1)
    return (angles.cos() * scaling).to(dtype)[:, None], (signed * scaling).to(dtype)[:, None]


def rotate(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding in Hugging Face's half-split layout, x * cos + rotate_half(x) * sin, in
    three kernels: rotate_half(x) * sin is the halves swapped (a roll) times the signed sin."""
    return torch.addcmul(x * cos, x.roll(x.shape[-1] // 2, dims=-1), signed_sin)


class Block(nn.Module):
    """One pre-RMSNorm decoder block writing its keys and values into the cache."""

    def __init__(self, shape: LlamaShape, layer_idx: int) -> None:
        super().__init__()
        s = shape
        self.shape = s
        self.layer_idx = layer_idx
        self.q_width, self.kv_width = s.heads * s.head_dim, s.kv_heads * s.head_dim
        self.input_norm = nn.Parameter(torch.empty(s.hidden))
        self.qkv = nn.Linear(s.hidden, self.q_width + 2 * self.kv_width, bias=s.qkv_bias)
        # Qwen3's q and k norms as one weight over the query heads then the key heads, so both
        # are normalised (and then rotated) as one tensor.
        self.qk_norm = nn.Parameter(torch.empty(s.heads + s.kv_heads, s.head_dim)) if s.qk_norm else None
        self.o_proj = nn.Linear(self.q_width, s.hidden, bias=s.o_bias)
        self.post_norm = nn.Parameter(torch.empty(s.hidden))
        self.gate_up = nn.Linear(s.hidden, 2 * s.intermediate, bias=s.mlp_bias)
        self.down = nn.Linear(s.intermediate, s.hidden, bias=s.mlp_bias)

    def _norm(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), weight, self.shape.eps)

    def forward(
        self, x: torch.Tensor, cache: KVCache, mask: torch.Tensor | None, cos: torch.Tensor, sin: torch.Tensor
    ) -> torch.Tensor:
        s = self.shape
        batch, steps, _ = x.shape
        start, end = cache.length, cache.length + steps
        qkv = self.qkv(self._norm(x, self.input_norm))
        # Queries and keys are adjacent in the fused output: normalised and rotated together.
        qk = qkv[..., : self.q_width + self.kv_width].view(batch, steps, s.heads + s.kv_heads, s.head_dim)
        if self.qk_norm is not None:
            qk = F.rms_norm(qk, (s.head_dim,), None, s.eps) * self.qk_norm
        qk = rotate(qk, cos, sin)
        q = qk[:, :, : s.heads].transpose(1, 2)
        keys, values = cache.keys[self.layer_idx], cache.values[self.layer_idx]
        keys[:, :, start:end] = qk[:, :, s.heads :].transpose(1, 2)
        v = qkv[..., self.q_width + self.kv_width :]
        values[:, :, start:end] = v.view(batch, steps, s.kv_heads, s.head_dim).transpose(1, 2)
        # The query heads of one group become rows of one product against their shared keys.
        q = q.reshape(batch, s.kv_heads, s.group * steps, s.head_dim)
        group_mask = mask.repeat(s.group, 1) if mask is not None else None
        attn = F.scaled_dot_product_attention(q, keys[:, :, :end], values[:, :, :end], attn_mask=group_mask)
        attn = attn.view(batch, s.heads, steps, s.head_dim).transpose(1, 2).reshape(batch, steps, self.q_width)
        x = x + self.o_proj(attn)
        gate, up = self.gate_up(self._norm(x, self.post_norm)).chunk(2, dim=-1)
        mlp: torch.Tensor = self.down(F.silu(gate) * up)
        return x + mlp


class Llama(nn.Module):
    """A Llama-family language model over a `KVCache`; returns next-token logits (float32)."""

    def __init__(self, shape: LlamaShape, cos: torch.Tensor, sin: torch.Tensor) -> None:
        super().__init__()
        self.shape = shape
        self.embed = nn.Embedding(shape.vocab_size, shape.hidden)
        self.blocks = nn.ModuleList(Block(shape, i) for i in range(shape.layers))
        self.norm = nn.Parameter(torch.empty(shape.hidden))
        self.lm_head: nn.Module = nn.Linear(shape.hidden, shape.vocab_size, bias=False)
        self.cos: torch.Tensor
        self.sin: torch.Tensor
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of activations and of the cache (the embedding may be stored narrower)."""
        return self.norm.dtype

    @property
    def positions(self) -> int:
        """Positions the rotary tables cover: the context this model was built for."""
        return int(self.cos.shape[0])

    def new_cache(self, batch: int, capacity: int) -> KVCache:
        s = self.shape
        return KVCache(s.layers, s.kv_heads, s.head_dim, batch, capacity, self.dtype)

    def forward(self, ids: torch.Tensor, cache: KVCache, all_positions: bool = False) -> torch.Tensor:
        """Run `ids` [batch, steps] after the cache's filled positions; logits are float32.

        Returns [batch, vocab] for the last position, or [batch, steps, vocab] with `all_positions`.
        """
        steps = ids.shape[1]
        start = cache.length
        if start + steps > min(cache.capacity, self.positions):
            raise ValueError(f"cache holds {min(cache.capacity, self.positions)} positions, asked for {start + steps}")
        cos, sin = self.cos[start : start + steps], self.sin[start : start + steps]
        mask = None
        if steps > 1:  # queries see every cached key and the new keys up to their own position
            mask = torch.arange(start + steps)[None, :] <= torch.arange(start, start + steps)[:, None]
        x = self.embed(ids).to(self.dtype)
        for block in self.blocks:
            x = block(x, cache, mask, cos, sin)
        cache.length = start + steps
        x = F.rms_norm(x if all_positions else x[:, -1], (self.shape.hidden,), self.norm, self.shape.eps)
        logits: torch.Tensor = self.lm_head(x)
        return logits.float()


def _fused(checkpoint: Checkpoint, keys: list[str], shapes: list[tuple[int, ...]], dtype: torch.dtype) -> torch.Tensor:
    """The checkpoint's tensors `keys` (each checked against its shape) joined along dim 0."""
    return torch.cat([checkpoint.read_checked(key, shape, dtype) for key, shape in zip(keys, shapes, strict=True)])


def block_state(shape: LlamaShape, i: int, checkpoint: Checkpoint, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Block `i`'s tensors under our names, q/k/v and gate/up fused."""
    s, hf = shape, f"layers.{i}."
    q, kv = s.heads * s.head_dim, s.kv_heads * s.head_dim
    attn = [f"{hf}self_attn.{p}_proj" for p in "qkv"]
    state = {
        "input_norm": checkpoint.read_checked(f"{hf}input_layernorm.weight", (s.hidden,), dtype),
        "post_norm": checkpoint.read_checked(f"{hf}post_attention_layernorm.weight", (s.hidden,), dtype),
        "qkv.weight": _fused(
            checkpoint, [f"{a}.weight" for a in attn], [(q, s.hidden), (kv, s.hidden), (kv, s.hidden)], dtype
        ),
        "o_proj.weight": checkpoint.read_checked(f"{hf}self_attn.o_proj.weight", (s.hidden, q), dtype),
        "gate_up.weight": _fused(
            checkpoint,
            [f"{hf}mlp.gate_proj.weight", f"{hf}mlp.up_proj.weight"],
            [(s.intermediate, s.hidden)] * 2,
            dtype,
        ),
        "down.weight": checkpoint.read_checked(f"{hf}mlp.down_proj.weight", (s.hidden, s.intermediate), dtype),
    }
    if s.qkv_bias:
        state["qkv.bias"] = _fused(checkpoint, [f"{a}.bias" for a in attn], [(q,), (kv,), (kv,)], dtype)
    if s.o_bias:
        state["o_proj.bias"] = checkpoint.read_checked(f"{hf}self_attn.o_proj.bias", (s.hidden,), dtype)
    if s.mlp_bias:
        gate_up = [f"{hf}mlp.gate_proj.bias", f"{hf}mlp.up_proj.bias"]
        state["gate_up.bias"] = _fused(checkpoint, gate_up, [(s.intermediate,)] * 2, dtype)
        state["down.bias"] = checkpoint.read_checked(f"{hf}mlp.down_proj.bias", (s.hidden,), dtype)
    if s.qk_norm:
        q_norm = checkpoint.read_checked(f"{hf}self_attn.q_norm.weight", (s.head_dim,), dtype)
        k_norm = checkpoint.read_checked(f"{hf}self_attn.k_norm.weight", (s.head_dim,), dtype)
        state["qk_norm"] = torch.cat([q_norm.expand(s.heads, -1), k_norm.expand(s.kv_heads, -1)])
    return {f"blocks.{i}.{name}": tensor for name, tensor in state.items()}


def build_llama(config: Any, positions: int, checkpoint: Checkpoint, dtype: torch.dtype) -> Llama:
    """Build the model in `dtype` from a Hugging Face Llama-family checkpoint, block by block, with
    rotary tables for `positions` positions. KeyError/ValueError name a missing or misshapen tensor."""
    shape = LlamaShape.from_config(config)
    if shape.heads % shape.kv_heads:
        raise ValueError(f"{shape.heads} attention heads do not split into {shape.kv_heads} key/value groups")
    cos, sin = rotary_tables(config, positions, dtype)
    with torch.device("meta"):
        model = Llama(shape, cos, sin)
    embed = checkpoint.read_checked("embed_tokens.weight", (shape.vocab_size, shape.hidden), dtype)
    state = {"embed.weight": embed, "norm": checkpoint.read_checked("norm.weight", (shape.hidden,), dtype)}
    for i in range(shape.layers):
        state.update(block_state(shape, i, checkpoint, dtype))
    # An untied head is in the checkpoint; a tied one is the embedding (one copy in memory).
    separate_head = not shape.tie_word_embeddings and "lm_head.weight" in checkpoint
    if separate_head:
        state["lm_head.weight"] = checkpoint.read_checked("lm_head.weight", (shape.vocab_size, shape.hidden), dtype)
    load_state(model, state, tie_head_to=None if separate_head else model.embed)
    return model
