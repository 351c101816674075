"""The OpenVINO runtime behind the engine's model interface (`DecoderModel`).

A cache is one OpenVINO infer request: the graph keeps each layer's keys and values in the
request's state. The engine's cache operations map onto it: keeping rows (finished alternatives
leave the batch) and copying one row to N (a prompt's cache expanded for N alternatives) become
the next step's `beam_idx`, which the graph applies to the state as it reads it; truncating (a
draft that shares only a prefix with the last) cuts the state once before the next step; an
expanded cache is a new request whose state starts as a copy, so the prompt's own cache stays
for the next request to reuse.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import torch

from arxiv_tui.runtime.kv_cache import Cache
from arxiv_tui.runtime.native.convert import ConversionProgress, cached_graph, convert
from arxiv_tui.runtime.native.graph import ACTIVATION_GROUP_KEY, INT8_ACTIVATION_GROUP


def compile_options(precision: str, native_bf16: bool, activation_group: int = INT8_ACTIVATION_GROUP) -> dict[str, Any]:
    """The CPU plugin's options for `precision`.

    Compressed weights (int8, int4) run fastest with float32 activations: the plugin's kernels
    unpack them at the rate memory delivers them. 16-bit weights run in bf16 where the CPU has it
    (`native_bf16`; float32 would widen them to four bytes at compile time); fp32 is exact.
    """
    hint = "bf16" if precision in ("fp16", "bf16") and native_bf16 else "f32"
    options: dict[str, Any] = {
        "INFERENCE_PRECISION_HINT": hint,
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": 1,
        # Not pinned: a thread whose core another program takes can move, so a busy core costs
        # a share of the step, not a stall at every operation.
        "ENABLE_CPU_PINNING": False,
    }
    if precision in ("int8", "int4"):
        # Activations are quantized on the fly in groups of this many inputs for the 8-bit
        # kernels; the graph says which group suits its weights (`GraphBuilder.activation_group`).
        options["DYNAMIC_QUANTIZATION_GROUP_SIZE"] = activation_group
    if precision == "fp32":
        options["KV_CACHE_PRECISION"] = "f32"  # the reference: nothing rounded
    return options


def read_states(request: ov.InferRequest) -> dict[str, np.ndarray]:
    """A copy of each of `request`'s states (every layer's keys and values), by name."""
    return {state.name: np.array(state.state.data) for state in request.query_state()}


def write_states(request: ov.InferRequest, states: dict[str, np.ndarray]) -> None:
    """Replace each of `request`'s states with `states[name]`."""
    for state in request.query_state():
        state.state = ov.Tensor(np.ascontiguousarray(states[state.name]))


def infer(request: ov.InferRequest, inputs: dict[str, np.ndarray]) -> torch.Tensor:
    """Run one step on `request`; a copy of its float32 logits (the next step reuses the buffer)."""
    request.start_async(inputs, share_inputs=True)
    request.wait()  # releases the GIL: the app's thread runs meanwhile
    return torch.from_numpy(np.array(request.get_output_tensor(0).data))


class NativeCache:
    """One infer request's key/value state, as the engine's `KVCache` is used."""

    def __init__(self, request: ov.InferRequest, batch: int) -> None:
        self.request = request
        self.length = 0
        self._rows: np.ndarray = np.arange(batch, dtype=np.int32)  # the next step's beam_idx
        self._cut: int | None = None  # a truncation not yet applied to the state

    @property
    def batch(self) -> int:
        return len(self._rows)

    @property
    def capacity(self) -> int:
        return 1 << 30  # the state grows as it goes

    def truncate(self, length: int) -> None:
        if length < self.length:
            self.length = length
            self._cut = length

    def grown(self, capacity: int) -> NativeCache:
        return self

    def keep_rows(self, rows: torch.Tensor) -> None:
        self._rows = self._rows[rows.numpy()]

    def expanded(self, batch: int, capacity: int) -> NativeCache:
        """A new cache of `batch` rows continuing this one-row cache (which stays as it is)."""
        self.settle()
        other = NativeCache(self.request.get_compiled_model().create_infer_request(), batch)
        if self.length:
            write_states(other.request, read_states(self.request))
        other.length = self.length
        other._rows = np.zeros(batch, dtype=np.int32)
        return other

    def settle(self) -> None:
        """Apply a pending truncation to the state (before it is read or extended)."""
        if self._cut is None:
            return
        if self._cut == 0:
            self.request.reset_state()
        else:
            cut = self._cut
            write_states(self.request, {name: rows[:, :, :cut] for name, rows in read_states(self.request).items()})
        self._cut = None

    def step_inputs(self, ids: np.ndarray, all_positions: bool) -> dict[str, np.ndarray]:
        steps = ids.shape[1]
        start, end = self.length, self.length + steps
        positions = np.arange(start, end, dtype=np.int64)[None, :]  # one row: the same for every row
        # Queries see every cached key and the new keys up to their own position.
        mask = np.arange(end)[None, None, :] <= positions[:, :, None]
        wanted = np.arange(steps, dtype=np.int64) if all_positions else np.array([steps - 1], dtype=np.int64)
        if self.length == 0 and len(self._rows) != ids.shape[0]:
            self._rows = np.arange(ids.shape[0], dtype=np.int32)
        rows = self._rows
        return {"input_ids": ids, "positions": positions, "mask": mask, "beam_idx": rows, "logit_positions": wanted}

    def advanced(self, steps: int, batch: int) -> None:
        """`steps` positions were written for each of `batch` rows: the next step continues them."""
        self.length += steps
        self._rows = np.arange(batch, dtype=np.int32)


class NativeModel:
    """A compiled graph: logits of new tokens after a `NativeCache`'s positions."""

    dtype = torch.float32  # of its logits; the cache lives inside OpenVINO

    def __init__(self, compiled: ov.CompiledModel) -> None:
        self.compiled = compiled

    def new_cache(self, batch: int, capacity: int) -> NativeCache:
        return NativeCache(self.compiled.create_infer_request(), batch)

    def __call__(self, ids: torch.Tensor, cache: Cache, all_positions: bool = False) -> torch.Tensor:
        """Run `ids` [batch, steps] after the cache's positions; float32 logits [batch, vocab] of
        the last position, or [batch, steps, vocab] with `all_positions`."""
        assert isinstance(cache, NativeCache)  # made by new_cache
        cache.settle()
        inputs = cache.step_inputs(np.ascontiguousarray(ids.numpy(), dtype=np.int64), all_positions)
        logits = infer(cache.request, inputs)
        cache.advanced(ids.shape[1], ids.shape[0])
        return logits if all_positions else logits[:, -1]


def open_native(
    directory: Path,
    config: Any,
    family: str,
    positions: int,
    precision: str,
    native_bf16: bool,
    on_progress: Callable[[ConversionProgress], None] | None = None,
) -> NativeModel:
    """`directory`'s model on OpenVINO in `precision`, converted first if no valid cache has it."""
    graph = cached_graph(directory, precision)
    if graph is not None:
        try:
            return _compiled(graph, precision, native_bf16)
        except RuntimeError:
            pass  # a cache that matches but does not read back (truncated .bin): rebuilt below
    graph = convert(directory, config, family, positions, precision, on_progress)
    return _compiled(graph, precision, native_bf16)


def _compiled(graph: Path, precision: str, native_bf16: bool) -> NativeModel:
    core = ov.Core()
    model = core.read_model(graph)
    group = int(model.get_rt_info(ACTIVATION_GROUP_KEY).astype(str))
    return NativeModel(core.compile_model(model, "CPU", compile_options(precision, native_bf16, group)))
