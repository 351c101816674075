"""Linear layers prepacked for the few-row products of decoding, in the kernel that reads each
precision's weights fastest on this CPU."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn


class PackedLinear(nn.Module):
    """An nn.Linear whose weight is prepacked in oneDNN's blocked layout (bf16 or fp32).

    For the few-row products of decoding this is ~3x faster than `F.linear` on this CPU (bf16:
    ~90 vs ~30 GB/s of weights read), with the same results; it is what torch's own inductor
    uses for frozen CPU linears.
    """

    def __init__(self, linear: nn.Linear, rows_hint: int) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), rows_hint)
        self.register_buffer("packed_weight", packed)
        self.bias = linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        out: torch.Tensor = torch.ops.mkldnn._linear_pointwise(rows, self.packed_weight, self.bias, "none", [], "")
        return out.view(*x.shape[:-1], self.out_features)


class HalfLinear(nn.Module):
    """An nn.Linear with fp16 weights packed by fbgemm, computing in fp32.

    Two bytes a weight like bf16, but fbgemm's fp16 kernel streams them faster than oneDNN's bf16
    one for a few rows (on a 2-core Zen 4: 27-35 against 19-27 GB/s over a whole model's
    linears); fp16 keeps 3 more mantissa bits than bf16, and the fp32 activations are exact.
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        bias = None if linear.bias is None else linear.bias.detach().float()  # fbgemm adds it in fp32
        self.packed = torch.ops.quantized.linear_prepack_fp16(linear.weight.detach(), bias)
        # The product past its Python packet, which first checks every argument for torch.compile's
        # fake script objects: ~5 us a call, 3-4% of a SmolLM2-135M step's 121 calls.
        packet = torch.ops.quantized.linear_dynamic_fp16
        self._product = getattr(packet, "_op", packet)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self._product(x, self.packed)
        return out


def _runs(make: Callable[[nn.Linear], nn.Module], weights: torch.dtype, activations: torch.dtype) -> bool:
    """Whether `make` packs a small linear of `weights` that runs on `activations` here."""
    try:
        make(nn.Linear(8, 8).to(weights))(torch.zeros(2, 8, dtype=activations))
    except (RuntimeError, AttributeError):
        return False
    return True


def can_pack(dtype: torch.dtype, rows_hint: int = 4) -> bool:
    """Whether oneDNN packs and runs linears of `dtype` on this machine."""
    return torch.backends.mkldnn.is_available() and _runs(lambda linear: PackedLinear(linear, rows_hint), dtype, dtype)


@functools.cache
def can_pack_half() -> bool:
    """Whether fbgemm's fp16 linears run here (x86 CPUs); probed once, as `auto` and the load
    both ask."""
    return _runs(HalfLinear, torch.float16, torch.float32)


def _swap_linears(model: nn.Module, make: Callable[[nn.Linear], nn.Module]) -> None:
    """Replace every nn.Linear inside `model` with `make(linear)`.

    By name, one at a time: each original is freed as its packed copy takes its place (holding
    every module while packing kept both copies of every weight: 4.4 GB peak for TinyLlama's 2.2).
    A head tied to the embedding gets a packed copy: the embedding's rows are still looked up by
    id, the head reads all of them per step in the packed layout.
    """
    for path in [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]:
        parent_path, _, attribute = path.rpartition(".")
        parent = model.get_submodule(parent_path)
        setattr(parent, attribute, make(getattr(parent, attribute)))


def pack_linears(model: nn.Module, dtype: torch.dtype, rows_hint: int = 4) -> bool:
    """Swap every nn.Linear inside `model` for a PackedLinear; False (model unchanged) where
    oneDNN lacks it."""
    if not can_pack(dtype, rows_hint):
        return False
    _swap_linears(model, lambda linear: PackedLinear(linear, rows_hint))
    return True


def pack_half_linears(model: nn.Module) -> None:
    """Swap every nn.Linear inside `model` (fp16 weights) for a HalfLinear."""
    _swap_linears(model, HalfLinear)
