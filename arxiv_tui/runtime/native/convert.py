"""Convert a model directory to an OpenVINO graph once per precision, and keep it beside the model.

The converted graph lives in `<model>/.arxiv-tui/openvino-<precision>/` (or, where the model's
directory is read-only, under the user cache directory) with a manifest naming what it was built
from: this converter's format, the OpenVINO version, the precision and the size and modification
time of the config and every weight file. A graph whose manifest does not match, or that does
not read back, is rebuilt, never trusted. A conversion writes into a temporary directory that
becomes the cache only when complete, so an interrupted one (Ctrl+C, a full disk) leaves nothing
that looks finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arxiv_tui.runtime.model_info import weight_files

FORMAT = 3  # bump when the graph or the quantization changes: every cache is rebuilt
MANIFEST = "manifest.json"
GRAPH = "model.xml"


@dataclass(frozen=True)
class ConversionProgress:
    """Where a conversion stands: `done` of `total` blocks built (then saved)."""

    precision: str
    done: int
    total: int

    def describe(self) -> str:
        """One line for a status bar (which names the model)."""
        return f"converting for OpenVINO ({self.precision}, once): block {self.done} of {self.total}"


class ConversionError(Exception):
    """The model could not be converted (its message is one line)."""


def source_fingerprint(directory: Path) -> list[list[Any]]:
    """Name, size and modification time of the files a graph is built from."""
    weights = weight_files(directory) or [directory / "pytorch_model.bin"]
    files = [directory / "config.json", *weights]
    return [[path.name, (st := path.stat()).st_size, st.st_mtime_ns] for path in files if path.exists()]


def manifest(directory: Path, precision: str) -> dict[str, Any]:
    """What a cache for `directory` in `precision` must say to be used."""
    import openvino

    return {
        "format": FORMAT,
        "openvino": openvino.__version__,
        "precision": precision,
        "source": source_fingerprint(directory),
    }


def cache_dir(directory: Path, precision: str) -> Path:
    """Where `directory`'s graph in `precision` is kept: beside it, or in the user cache if it
    is read-only."""
    beside = directory / ".arxiv-tui"
    if os.access(directory, os.W_OK):
        return beside / f"openvino-{precision}"
    from platformdirs import user_cache_path

    key = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:16]
    return user_cache_path("arxiv-tui") / "openvino" / f"{directory.name}-{key}" / precision


def cached_graph(directory: Path, precision: str) -> Path | None:
    """The cached graph's file if its manifest matches what `directory` holds now, else None."""
    target = cache_dir(directory, precision)
    try:
        written = json.loads((target / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if written != manifest(directory, precision) or not (target / GRAPH).is_file():
        return None
    return target / GRAPH


def convert(
    directory: Path,
    config: Any,
    family: str,
    positions: int,
    precision: str,
    on_progress: Callable[[ConversionProgress], None] | None = None,
) -> Path:
    """Build `directory`'s graph in `precision` into the cache (replacing a stale one) and return
    its file. ConversionError for a model the graph cannot express or a cache that cannot be
    written; KeyError/ValueError from the checkpoint's readers name a bad tensor."""
    import openvino as ov

    from arxiv_tui.runtime.native.families import gpt2_graph, llama_graph
    from arxiv_tui.runtime.native.graph import WeightFormat
    from arxiv_tui.runtime.weights import Checkpoint

    target = cache_dir(directory, precision)
    build = gpt2_graph if family == "gpt2" else llama_graph

    def progress(done: int, total: int) -> None:
        if on_progress is not None:
            on_progress(ConversionProgress(precision, done, total))

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    except OSError as exc:
        raise ConversionError(f"cannot write the converted model beside {directory}: {exc.strerror}") from None
    try:
        graph = build(config, Checkpoint(directory), positions, WeightFormat.for_precision(precision), progress)
        ov.save_model(graph, staging / GRAPH, compress_to_fp16=False)
        del graph
        (staging / MANIFEST).write_text(json.dumps(manifest(directory, precision)))
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except OSError as exc:
        raise ConversionError(f"cannot write the converted model to {target.parent}: {exc.strerror or exc}") from None
    except RuntimeError as exc:  # OpenVINO's own errors: the graph could not be made or saved
        raise ConversionError(f"OpenVINO could not convert {directory}: {' '.join(str(exc).split())[:300]}") from None
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)  # only still there if the conversion did not finish
    return target / GRAPH
