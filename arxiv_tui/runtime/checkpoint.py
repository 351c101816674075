"""Load a model directory into the fast runtime, in the precision that runs best here.

Weights are read tensor by tensor from the checkpoint (safetensors, memory-mapped) and
converted as they arrive, so the fp32 model is never held twice. Precisions:
- `fp32`: exact reference numerics.
- `bf16`: half the bytes per step; the default where the CPU has native bf16 (AVX512-BF16/AMX).
- `int8`: dynamic int8 quantization of every linear layer and the LM head (a quarter of the
  bytes); activations stay fp32.
- `auto`: bf16 where native, else fp32.
"""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where it is used: this module is read before a model loads
    import torch
    from torch import nn

from arxiv_tui.runtime.registry import ModelError, check_model_dir
from arxiv_tui.runtime.settings import PRECISIONS


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bf16 natively (on others bf16 is emulated and slower)."""
    if sys.platform != "linux":
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, cuda: bool = False) -> str:
    """Turn `auto` into the concrete precision: bf16 where the device computes it natively (this
    CPU, or a CUDA device when training on one), else fp32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision != "auto":
        return precision
    if cuda:
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def compute_dtype(precision: str) -> torch.dtype:
    """The torch dtype a concrete precision computes in (int8 models compute in fp32)."""
    import torch

    return torch.bfloat16 if precision == "bf16" else torch.float32


_SAFETENSORS_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
_CHUNK_BYTES = 8 << 20  # fp32 bytes converted at a time


class Checkpoint:
    """A checkpoint's tensors by name (without a `transformer.` prefix), read one at a time.

    safetensors files are read with plain file reads in chunks and converted to the target
    dtype as they arrive: memory-mapping them (safetensors' `safe_open`) makes every fp32 page
    resident while converting, which alone pushed peak memory from ~600 MB to ~840 MB.
    """

    def __init__(self, directory: Path) -> None:
        self._entries: dict[str, tuple[Path, dict[str, Any]]] = {}  # safetensors: name -> (file, header)
        self._state: dict[str, Any] = {}  # pytorch_model.bin: name -> tensor
        index = directory / "model.safetensors.index.json"
        if (directory / "model.safetensors").is_file():
            self._add_safetensors(directory / "model.safetensors")
        elif index.is_file():
            for shard in sorted(set(json.loads(index.read_text())["weight_map"].values())):
                self._add_safetensors(directory / shard)
        else:
            import torch

            state = torch.load(directory / "pytorch_model.bin", map_location="cpu", mmap=True, weights_only=True)
            self._state = {self._strip(name): tensor for name, tensor in state.items()}

    @staticmethod
    def _strip(name: str) -> str:
        return name.removeprefix("transformer.")

    def _add_safetensors(self, path: Path) -> None:
        with path.open("rb") as f:
            size = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(size))
        header.pop("__metadata__", None)
        base = 8 + size
        for name, info in header.items():
            if info["dtype"] not in _SAFETENSORS_DTYPES:
                raise ValueError(f"tensor {name} has unsupported dtype {info['dtype']}")
            info = dict(info, start=base + info["data_offsets"][0])
            self._entries[self._strip(name)] = (path, info)

    def __contains__(self, name: str) -> bool:
        return name in self._entries or name in self._state

    def read(self, name: str, dtype: torch.dtype) -> torch.Tensor:
        """Tensor `name` in `dtype`; KeyError if the checkpoint lacks it."""
        import torch

        if name in self._state:
            tensor: torch.Tensor = self._state[name].to(dtype)
            return tensor
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


def _quantize_int8(model: nn.Module) -> None:
    """Replace every nn.Linear (blocks and LM head) with a dynamically quantized int8 one."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecation notice pointing at torchao
        quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


@dataclass
class LoadedModel:
    """A model ready for the engine: the runtime, its tokenizer and how it was loaded."""

    model: Any  # arxiv_tui.runtime.gpt2.GPT2
    tokenizer: Any  # a transformers tokenizer
    directory: Path
    precision: str
    context_length: int


def load_model(directory: Path, precision: str = "auto") -> LoadedModel:
    """Load `directory` (already resolved) into the runtime; ModelError if it cannot be used."""
    from transformers import AutoTokenizer, GPT2Config

    from arxiv_tui.runtime.gpt2 import GPT2Shape, build_gpt2, pack_linears

    check_model_dir(directory)
    concrete = resolve_precision(precision)
    try:
        config = GPT2Config.from_pretrained(directory)
        shape = GPT2Shape.from_config(config)
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ModelError(f"{directory}/config.json is not a usable GPT-2 config: {exc}") from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory)
    except Exception as exc:  # noqa: BLE001 - tokenizers raise many unrelated types for a broken file
        raise ModelError(f"cannot load the tokenizer in {directory}: {exc}") from None
    dtype = compute_dtype(concrete)
    try:
        model = build_gpt2(shape, Checkpoint(directory), dtype)
    except KeyError as exc:
        raise ModelError(f"the weights in {directory} lack {exc.args[0]!r}; is it a GPT-2 checkpoint?") from None
    except Exception as exc:  # noqa: BLE001 - safetensors/torch raise several types for a corrupt file
        raise ModelError(f"cannot read the weights in {directory}: {exc}") from None
    if concrete == "int8":
        _quantize_int8(model)
    else:
        pack_linears(model)
    return LoadedModel(model, tokenizer, directory, concrete, shape.n_positions)
