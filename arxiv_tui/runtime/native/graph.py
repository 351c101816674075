"""The pieces every family's OpenVINO graph is made of.

A graph takes the new tokens, their positions, the attention mask over cached and new keys, the
cache rows to continue from (`beam_idx`) and the positions whose logits are wanted. Keys and
values live in the graph's own state (ReadValue -> Gather by beam_idx -> Concat -> Assign), the
shape OpenVINO's CPU plugin fuses into one attention kernel that appends in place, so a decode
step neither copies the cache in nor out. Weights are constants, stored as the precision asks:
f32, f16, int8 per output channel, or int4 in groups along the input, each followed by the
decompression (Convert, Multiply by the scale) that the plugin folds into its matmul kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import openvino as ov
import openvino.opset13 as ops
from openvino.op.util import Variable, VariableInfo

from arxiv_tui.runtime.native.quantize import quantize_int4, quantize_int8

Node: TypeAlias = Any  # an ov.Output: what opset functions take and return (OpenVINO ships no types)
# Where a graph says the group its activations are best quantized in (see `activation_group`).
ACTIVATION_GROUP_KEY = ["arxiv_tui", "activation_group"]
INT8_ACTIVATION_GROUP = 128
LOGITS = "logits"


@dataclass(frozen=True)
class WeightFormat:
    """How a graph stores its matrices: `blocks` for the decoder blocks' linears, `edges` for the
    embedding and the head (4-bit there costs quality for little speed, as NNCF's default knows)."""

    blocks: str  # "f32", "f16", "int8" or "int4"
    edges: str

    @classmethod
    def for_precision(cls, precision: str) -> WeightFormat:
        formats = {"fp32": ("f32", "f32"), "fp16": ("f16", "f16"), "bf16": ("f16", "f16")}
        formats |= {"int8": ("int8", "int8"), "int4": ("int4", "int8")}
        blocks, edges = formats[precision]
        return cls(blocks, edges)


def _const(array: np.ndarray) -> Node:
    return ops.constant(np.ascontiguousarray(array)).output(0)


def scalar(value: float) -> Node:
    """A float32 scalar constant."""
    return _const(np.array(value, dtype=np.float32))


def _int4_constant(q: np.ndarray) -> Node:
    """A packed i4 constant (two values a byte, low nibble first) of the int8 array `q`."""
    tensor = ov.Tensor(ov.Type.i4, ov.Shape(list(q.shape)))
    low, high = q.reshape(-1)[0::2].astype(np.uint8) & 15, q.reshape(-1)[1::2].astype(np.uint8) & 15
    tensor.data[:] = (high << 4) | low
    return ov.op.Constant(tensor).output(0)


def group_size(columns: int) -> int:
    """int4's group along an input of `columns`: the largest of 128, 64 and 32 that divides it."""
    for group in (128, 64, 32):
        if columns % group == 0:
            return group
    return columns  # one group a row: odd widths (never seen in these families) still quantize


def matrix(weight: np.ndarray, storage: str) -> Node:
    """`weight` [out, in] (float32) as a graph value of float32, stored as `storage`."""
    if storage == "f32":
        return _const(weight.astype(np.float32))
    if storage == "f16":
        return ops.convert(_const(weight.astype(np.float16)), ov.Type.f32).output(0)
    if storage == "int8":
        q8, scale = quantize_int8(weight)
        decompressed = ops.multiply(ops.convert(_const(q8), ov.Type.f16), _const(scale))
        return ops.convert(decompressed, ov.Type.f32).output(0)
    if storage == "int4":
        out, columns = weight.shape
        group = group_size(columns)
        q4, scale = quantize_int4(weight.reshape(out, columns // group, group))
        grouped = ops.multiply(ops.convert(_int4_constant(q4), ov.Type.f16), _const(scale))
        flat = ops.reshape(grouped, index_constant([out, columns]), special_zero=False)
        return ops.convert(flat, ov.Type.f32).output(0)
    raise ValueError(f"unknown weight storage {storage!r}")


class GraphBuilder:
    """The inputs of a decoder graph and the helpers its families build blocks with."""

    def __init__(self, weights: WeightFormat) -> None:
        self.weights = weights
        self.input_ids = ops.parameter([-1, -1], ov.Type.i64, name="input_ids")
        # Positions of the new tokens [batch or 1, steps], and which keys each attends to [batch or
        # 1, steps, cached + new] (True attends): one row for all when the rows are one prompt's,
        # a row each when they are several requests', left-padded to one length.
        self.positions = ops.parameter([-1, -1], ov.Type.i64, name="positions")
        self.mask = ops.parameter([-1, -1, -1], ov.Type.boolean, name="mask")
        self.beam_idx = ops.parameter([-1], ov.Type.i32, name="beam_idx")  # cache row each batch row continues
        self.logit_positions = ops.parameter([-1], ov.Type.i64, name="logit_positions")
        self.sinks: list[ov.Node] = []
        self.int4_groups: set[int] = set()  # the groups int4 weights were quantized in
        batch = ops.gather(ops.shape_of(self.input_ids), index_constant([0]), axis(0))
        self._batch = batch.output(0)

    @property
    def parameters(self) -> list[ov.Node]:
        return [self.input_ids, self.positions, self.mask, self.beam_idx, self.logit_positions]

    def linear(self, x: Node, weight: np.ndarray, bias: np.ndarray | None = None) -> Node:
        """x @ weight.T (+ bias), `weight` [out, in] stored in the blocks' format."""
        if self.weights.blocks == "int4":
            self.int4_groups.add(group_size(weight.shape[1]))
        y = ops.matmul(x, matrix(weight, self.weights.blocks), transpose_a=False, transpose_b=True).output(0)
        return ops.add(y, _const(bias.astype(np.float32))).output(0) if bias is not None else y

    def embedding(self, table: np.ndarray) -> Node:
        """The embedding table [vocab, hidden] as a graph value (shared with a tied head)."""
        return matrix(table, self.weights.edges)

    def rms_norm(self, x: Node, weight: np.ndarray, eps: float) -> Node:
        """RMSNorm over the last axis, in the shape the CPU plugin fuses."""
        mean = ops.reduce_mean(ops.power(x, scalar(2.0)), index_constant([-1]), True)
        inverse = ops.divide(scalar(1.0), ops.sqrt(ops.add(mean, scalar(eps))))
        normed = ops.multiply(x, inverse)
        return ops.multiply(normed, _const(weight.astype(np.float32))).output(0)

    def layer_norm(self, x: Node, weight: np.ndarray, bias: np.ndarray, eps: float) -> Node:
        normed = ops.mvn(x, index_constant([-1]), True, eps, "inside_sqrt")
        scaled = ops.multiply(normed, _const(weight.astype(np.float32)))
        return ops.add(scaled, _const(bias.astype(np.float32))).output(0)

    def heads(self, x: Node, count: int, head_dim: int) -> Node:
        """[batch, steps, count * head_dim] -> [batch, steps, count, head_dim]."""
        return ops.reshape(x, index_constant([0, 0, count, head_dim]), special_zero=True).output(0)

    def attention(
        self, q: Node, k: Node, v: Node, layer: int, kv_heads: int, head_dim: int, group: int, scale: float
    ) -> Node:
        """Attention of q [batch, steps, heads, d] over the cached keys and values of `layer` and
        the new k, v [batch, steps, kv_heads, d]; returns [batch, steps, heads * d]."""
        order = index_constant([0, 2, 1, 3])
        q, k, v = (ops.transpose(t, order).output(0) for t in (q, k, v))
        present = [
            self._cached(t, f"past.{layer}.{name}", kv_heads, head_dim) for t, name in ((k, "key"), (v, "value"))
        ]
        if group > 1:  # each key/value head serves `group` query heads, as rows of one product
            present = [self._repeat_heads(t, kv_heads * group, head_dim, group) for t in present]
        mask = ops.unsqueeze(self.mask, index_constant([1]))  # the same for every head
        out = ops.scaled_dot_product_attention(q, present[0], present[1], mask, scalar(scale))
        merged = ops.transpose(out, order)
        return ops.reshape(merged, index_constant([0, 0, -1]), special_zero=True).output(0)

    def _cached(self, new: Node, name: str, kv_heads: int, head_dim: int) -> Node:
        """`new` [batch, kv_heads, steps, d] after the state `name`'s rows picked by beam_idx."""
        empty_shape = ops.concat([self._batch, index_constant([kv_heads, 0, head_dim])], 0)
        empty = ops.broadcast(scalar(0.0), empty_shape)
        info = VariableInfo()
        info.data_shape = ov.PartialShape([-1, kv_heads, -1, head_dim])
        info.data_type = ov.Type.f32
        info.variable_id = name
        variable = Variable(info)
        past = ops.read_value(empty, variable)
        rows = ops.gather(past, self.beam_idx, axis(0))
        present = ops.concat([rows.output(0), new], 2).output(0)
        self.sinks.append(ops.assign(present.get_node(), variable))
        return present

    @staticmethod
    def _repeat_heads(x: Node, heads: int, head_dim: int, group: int) -> Node:
        expanded = ops.unsqueeze(x, index_constant([2]))
        shape = index_constant([1, 1, group, 1, 1])
        repeated = ops.broadcast(expanded, shape, broadcast_spec="BIDIRECTIONAL")
        return ops.reshape(repeated, index_constant([0, heads, -1, head_dim]), special_zero=True).output(0)

    def logits(self, hidden: Node, head: Node) -> ov.Model:
        """The model: logits [batch, len(logit_positions), vocab] of `hidden` at the asked positions."""
        picked = ops.gather(hidden, self.logit_positions, axis(1))
        logits = ops.matmul(picked, head, transpose_a=False, transpose_b=True)
        result = ops.result(logits)
        result.output(0).get_tensor().set_names({LOGITS})
        model = ov.Model([result], self.sinks, self.parameters, "arxiv-tui")
        model.set_rt_info(str(self.activation_group), ACTIVATION_GROUP_KEY)
        return model

    @property
    def activation_group(self) -> int:
        """The group the plugin should quantize activations in for the 8-bit kernels: int4's
        smallest weight group (a larger one than the weights' falls off the fast kernel), else
        128, faster than the plugin's default 32 at every batch size measured (docs/performance.md)."""
        return min(self.int4_groups, default=INT8_ACTIVATION_GROUP)


def constant(array: np.ndarray) -> Node:
    """A float32 constant (tables such as rotary cos/sin)."""
    return _const(array.astype(np.float32))


def index_constant(values: list[int]) -> Node:
    """An int64 vector constant (shapes, split lengths, shifts)."""
    return _const(np.array(values, dtype=np.int64))


def axis(index: int) -> Node:
    """An int64 scalar constant: the axis a gather or split works along (a split takes no other
    shape; `_const` would make it a vector of one)."""
    return ops.constant(np.array(index, dtype=np.int64)).output(0)
