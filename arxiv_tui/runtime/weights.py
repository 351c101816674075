"""A checkpoint's tensors, read one at a time in the dtype the runtime computes in.

Every family's builder reads through `Checkpoint.read_checked`, so a missing tensor or one of
the wrong shape is named in one line before anything is built, whatever the family.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from arxiv_tui.runtime.model_info import safetensors_header, weight_files

_SAFETENSORS_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
_CHUNK_BYTES = 8 << 20  # fp32 bytes converted at a time
_PREFIXES = ("transformer.", "model.")  # GPT-2's and the Llama family's trunk


class BeyondHalfRange(ValueError):
    """A checkpoint tensor holds values that fp16 cannot."""


class Checkpoint:
    """A checkpoint's tensors by name (without the trunk's `transformer.`/`model.` prefix).

    safetensors files are read with plain file reads in chunks and converted to the target
    dtype as they arrive: memory-mapping them (safetensors' `safe_open`) makes every fp32 page
    resident while converting, which alone pushed peak memory from ~600 MB to ~840 MB.
    """

    def __init__(self, directory: Path, matrices: torch.dtype | None = None) -> None:
        """`matrices`: a dtype that 2-D tensors (linear weights, embeddings) are read in whatever
        dtype is asked for, where a precision keeps its matrices apart from its activations."""
        self._matrices = matrices
        self._entries: dict[str, tuple[Path, dict[str, Any]]] = {}  # safetensors: name -> (file, header)
        self._state: dict[str, Any] = {}  # pytorch_model.bin: name -> tensor
        files = weight_files(directory)
        for path in files:
            self._add_safetensors(path)
        if not files:
            state = torch.load(directory / "pytorch_model.bin", map_location="cpu", mmap=True, weights_only=True)
            self._state = {self._strip(name): tensor for name, tensor in state.items()}

    @staticmethod
    def _strip(name: str) -> str:
        for prefix in _PREFIXES:
            if name.startswith(prefix):
                return name[len(prefix) :]
        return name

    def _add_safetensors(self, path: Path) -> None:
        header, base = safetensors_header(path)
        for name, info in header.items():
            if info["dtype"] not in _SAFETENSORS_DTYPES:
                raise ValueError(f"tensor {name} has unsupported dtype {info['dtype']}")
            info = dict(info, start=base + info["data_offsets"][0])
            self._entries[self._strip(name)] = (path, info)

    def __contains__(self, name: str) -> bool:
        return name in self._entries or name in self._state

    def names(self) -> list[str]:
        """Every tensor's name (without the trunk's prefix)."""
        return list(self._entries) or list(self._state)

    def shape(self, name: str) -> tuple[int, ...]:
        """Tensor `name`'s shape, read from the header; KeyError if the checkpoint lacks it."""
        if name in self._state:
            return tuple(self._state[name].shape)
        return tuple(self._entries[name][1]["shape"])

    def parameter_count(self) -> int:
        """Numbers stored in the checkpoint (a tied head is stored, and counted, once)."""
        return sum(math.prod(self.shape(name)) for name in self.names())

    def read(self, name: str, dtype: torch.dtype) -> torch.Tensor:
        """Tensor `name` in `dtype` (or in the matrices' dtype); KeyError if the checkpoint lacks
        it, BeyondHalfRange if fp16 cannot hold it."""
        if self._matrices is not None and len(self.shape(name)) == 2:
            dtype = self._matrices
        out = self._state[name].to(dtype) if name in self._state else self._read_file(name, dtype)
        # A value past fp16's ±65,504 becomes inf: refuse it rather than run a changed model.
        if out.dtype == torch.float16 and out.numel():
            low, high = (float(bound) for bound in out.aminmax())  # one pass, no mask of the tensor
            if not (math.isfinite(low) and math.isfinite(high)):
                raise BeyondHalfRange(f"tensor {name} holds values beyond fp16's range (±65,504)")
        return out

    def _read_file(self, name: str, dtype: torch.dtype) -> torch.Tensor:
        path, info = self._entries[name]
        source = getattr(torch, _SAFETENSORS_DTYPES[info["dtype"]])
        out = torch.empty(info["shape"], dtype=dtype)
        flat = out.view(-1)
        step = _CHUNK_BYTES // source.itemsize
        with path.open("rb") as f:
            f.seek(info["start"])
            for first in range(0, flat.numel(), step):
                count = min(step, flat.numel() - first)
                data = bytearray(f.read(count * source.itemsize))
                if len(data) != count * source.itemsize:
                    raise ValueError(f"{path.name} is truncated inside tensor {name}")
                flat[first : first + count] = torch.frombuffer(data, dtype=source)
        return out

    def read_checked(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """Tensor `name` in `dtype`, which the config says has `shape`: KeyError if missing,
        ValueError if its shape differs (a config that does not match its weights)."""
        stored = self.shape(name)
        if stored != shape:
            raise ValueError(f"tensor {name} has shape {list(stored)}, the config asks for {list(shape)}")
        return self.read(name, dtype)


def load_state(model: nn.Module, state: dict[str, torch.Tensor], tie_head_to: nn.Embedding | None) -> None:
    """Put `state` into `model` (built on the meta device) in place, and freeze it in eval mode.

    With `tie_head_to`, `lm_head` shares that embedding's tensor (one copy in memory) and is the
    one tensor `state` may lack.
    """
    result = model.load_state_dict(state, strict=False, assign=True)
    missing = set(result.missing_keys) - ({"lm_head.weight"} if tie_head_to is not None else set())
    if missing or result.unexpected_keys:
        raise KeyError(sorted(missing)[0] if missing else sorted(result.unexpected_keys)[0])
    if tie_head_to is not None:
        model.get_submodule("lm_head").weight = tie_head_to.weight
    model.eval().requires_grad_(False)
