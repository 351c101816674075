"""Each family's forward pass as an OpenVINO graph, built from the checkpoint's own tensors.

The tensors come through the PyTorch runtime's readers (`block_state` for the Llama family,
the GPT-2 module's parameters), so names, fused q/k/v and gate/up, shape checks and Qwen3's
per-head norms are read exactly as the reference engine reads them, and the graph computes what
`arxiv_tui.runtime.llama` and `arxiv_tui.runtime.gpt2` compute.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import openvino.opset13 as ops
import torch

from arxiv_tui.runtime.native.graph import GraphBuilder, Node, WeightFormat, axis, constant, index_constant
from arxiv_tui.runtime.weights import Checkpoint

Progress = Callable[[int, int], None]  # (blocks done, blocks in all)


def _np(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to(torch.float32).numpy()


def _activation(x: Node, name: str) -> Node:
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        return ops.gelu(x, "tanh").output(0)
    if name == "gelu":
        return ops.gelu(x, "erf").output(0)
    if name == "relu":
        return ops.relu(x).output(0)
    if name == "silu":
        return ops.swish(x).output(0)
    raise ValueError(f"unsupported activation {name!r}")


def _rotate(x: Node, cos: Node, signed_sin: Node, head_dim: int) -> Node:
    """x * cos + roll(x, half) * signed_sin: Hugging Face's half-split rotary embedding."""
    rolled = ops.roll(x, index_constant([head_dim // 2]), index_constant([-1]))
    return ops.add(ops.multiply(x, cos), ops.multiply(rolled, signed_sin)).output(0)


def llama_graph(config: Any, checkpoint: Checkpoint, positions: int, weights: WeightFormat, progress: Progress) -> Any:
    """The Llama-family graph (Llama, Mistral, Qwen2, Qwen3, SmolLM) of `checkpoint`."""
    from arxiv_tui.runtime.llama import LlamaShape, block_state, rotary_tables

    s = LlamaShape.from_config(config)
    if s.heads % s.kv_heads:
        raise ValueError(f"{s.heads} attention heads do not split into {s.kv_heads} key/value groups")
    if s.activation != "silu":
        raise ValueError(f"unsupported activation {s.activation!r}")
    g = GraphBuilder(weights)
    f32 = torch.float32
    cos_table, sin_table = rotary_tables(config, positions, f32)  # [positions, 1, head_dim]
    # The new tokens' rows, [batch or 1, steps, 1, head_dim]: they broadcast over the heads.
    cos = ops.gather(constant(_np(cos_table)), g.positions, axis(0)).output(0)
    sin = ops.gather(constant(_np(sin_table)), g.positions, axis(0)).output(0)
    embed = g.embedding(_np(checkpoint.read_checked("embed_tokens.weight", (s.vocab_size, s.hidden), f32)))
    x = ops.gather(embed, g.input_ids, axis(0)).output(0)
    q_width, kv_width = s.heads * s.head_dim, s.kv_heads * s.head_dim
    for i in range(s.layers):
        t = {name.split(".", 2)[2]: _np(tensor) for name, tensor in block_state(s, i, checkpoint, f32).items()}
        qkv = g.linear(g.rms_norm(x, t["input_norm"], s.eps), t["qkv.weight"], t.get("qkv.bias"))
        q, k, v = ops.variadic_split(qkv, axis(-1), index_constant([q_width, kv_width, kv_width])).outputs()
        q, k, v = (
            g.heads(q, s.heads, s.head_dim),
            g.heads(k, s.kv_heads, s.head_dim),
            g.heads(v, s.kv_heads, s.head_dim),
        )
        if "qk_norm" in t:  # Qwen3: one norm for every query head, another for every key head
            q = g.rms_norm(q, t["qk_norm"][0], s.eps)
            k = g.rms_norm(k, t["qk_norm"][s.heads], s.eps)
        q, k = _rotate(q, cos, sin, s.head_dim), _rotate(k, cos, sin, s.head_dim)
        attn = g.attention(q, k, v, i, s.kv_heads, s.head_dim, s.group, 1.0 / math.sqrt(s.head_dim))
        x = ops.add(x, g.linear(attn, t["o_proj.weight"], t.get("o_proj.bias"))).output(0)
        gate_up = g.linear(g.rms_norm(x, t["post_norm"], s.eps), t["gate_up.weight"], t.get("gate_up.bias"))
        gate, up = ops.split(gate_up, axis(-1), 2).outputs()
        mlp = g.linear(ops.multiply(ops.swish(gate), up).output(0), t["down.weight"], t.get("down.bias"))
        x = ops.add(x, mlp).output(0)
        progress(i + 1, s.layers)
    x = g.rms_norm(x, _np(checkpoint.read_checked("norm.weight", (s.hidden,), f32)), s.eps)
    head = embed
    if not s.tie_word_embeddings and "lm_head.weight" in checkpoint:
        head = g.embedding(_np(checkpoint.read_checked("lm_head.weight", (s.vocab_size, s.hidden), f32)))
    return g.logits(x, head)


def gpt2_graph(config: Any, checkpoint: Checkpoint, positions: int, weights: WeightFormat, progress: Progress) -> Any:
    """The GPT-2 graph of `checkpoint` (read through the PyTorch runtime's builder, in float32)."""
    from arxiv_tui.runtime.gpt2 import GPT2Shape, attention_scale, build_gpt2

    s = GPT2Shape.from_config(config)
    model = build_gpt2(s, checkpoint, torch.float32)
    t = {name: _np(tensor) for name, tensor in model.state_dict().items()}
    g = GraphBuilder(weights)
    embed = g.embedding(t["wte.weight"])
    tokens = ops.gather(embed, g.input_ids, axis(0))
    where = ops.gather(constant(t["wpe.weight"]), g.positions, axis(0))
    x = ops.add(tokens, where).output(0)
    for i in range(s.n_layer):
        p = f"blocks.{i}."
        qkv = g.linear(
            g.layer_norm(x, t[p + "ln_1.weight"], t[p + "ln_1.bias"], s.layer_norm_epsilon),
            t[p + "c_attn.weight"],
            t[p + "c_attn.bias"],
        )
        q, k, v = (g.heads(part, s.n_head, s.head_dim) for part in ops.split(qkv, axis(-1), 3).outputs())
        attn = g.attention(q, k, v, i, s.n_head, s.head_dim, 1, attention_scale(s, i))
        x = ops.add(x, g.linear(attn, t[p + "attn_proj.weight"], t[p + "attn_proj.bias"])).output(0)
        h = g.layer_norm(x, t[p + "ln_2.weight"], t[p + "ln_2.bias"], s.layer_norm_epsilon)
        h = _activation(g.linear(h, t[p + "c_fc.weight"], t[p + "c_fc.bias"]), s.activation)
        x = ops.add(x, g.linear(h, t[p + "mlp_proj.weight"], t[p + "mlp_proj.bias"])).output(0)
        progress(i + 1, s.n_layer)
    x = g.layer_norm(x, t["ln_f.weight"], t["ln_f.bias"], s.layer_norm_epsilon)
    head = embed if "lm_head.weight" not in checkpoint or s.tie_word_embeddings else g.embedding(t["lm_head.weight"])
    return g.logits(x, head)
