"""What a model directory holds, read from its config and weight headers without loading torch:
for `models list` and the registry, which must stay quick."""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import Any

_DTYPE_NAMES = {"F32": "fp32", "F16": "fp16", "BF16": "bf16"}


def safetensors_header(path: Path) -> tuple[dict[str, Any], int]:
    """The tensor entries of a .safetensors file's JSON header (name -> dtype, shape, offsets
    from the data), and where the data starts in the file."""
    with path.open("rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header: dict[str, Any] = json.loads(f.read(size))
    header.pop("__metadata__", None)
    return header, 8 + size


def weight_files(directory: Path) -> list[Path]:
    """The .safetensors files of a model directory, one or sharded (none for pytorch_model.bin)."""
    if (directory / "model.safetensors").is_file():
        return [directory / "model.safetensors"]
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        return [directory / shard for shard in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
    return []


def describe(directory: Path) -> str:
    """One line: family, parameters and the precision the weights are stored in, e.g.
    "qwen2, 494.0M parameters, stored in bf16"; what cannot be read is left out."""
    parts = []
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        parts.append(str(json.loads((directory / "config.json").read_text(encoding="utf-8"))["model_type"]))
    try:
        entries = [entry for path in weight_files(directory) for entry in safetensors_header(path)[0].values()]
    except (OSError, ValueError):
        entries = []
    if entries:
        parts.append(f"{sum(math.prod(e['shape']) for e in entries) / 1e6:.1f}M parameters")
        stored = sorted({_DTYPE_NAMES.get(e["dtype"], e["dtype"]) for e in entries})
        parts.append(f"stored in {'/'.join(stored)}")
    return ", ".join(parts)
