"""Symmetric weight quantization: int8 per output channel, int4 per group along the input.

Both keep the value of largest magnitude exact: int8 maps it to ±127, int4 to -8 (the signed
range's far end, so the other 15 levels cover the rest of the group, as NNCF's symmetric int4
does). Scales are float16, as the runtime multiplies them in.
"""

from __future__ import annotations

import numpy as np


def quantize_int8(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`weight` [out, in] -> (int8 [out, in], float16 scale [out, 1]) with weight ≈ q * scale."""
    absmax = np.abs(weight).max(axis=1, keepdims=True).astype(np.float32)
    scale = np.where(absmax > 0, absmax / 127.0, 1.0).astype(np.float16)
    q = np.clip(np.rint(weight / scale.astype(np.float32)), -127, 127).astype(np.int8)
    return q, scale


def quantize_int4(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`groups` [out, n_groups, group] -> (int8 values in [-8, 7], float16 scale [out, n_groups, 1])."""
    index = np.abs(groups).argmax(axis=2)[..., None]
    extreme = np.take_along_axis(groups, index, axis=2).astype(np.float32)
    scale = np.where(extreme != 0, extreme / -8.0, 1.0).astype(np.float16)
    scale = np.where(scale == 0, np.float16(1.0), scale)  # a tiny extreme that float16 rounds to 0
    q = np.clip(np.rint(groups / scale.astype(np.float32)), -8, 7).astype(np.int8)
    return q, scale
