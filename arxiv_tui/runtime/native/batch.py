"""Rows of several requests in one OpenVINO state, so they share each decode step.

Each request's prompt is prefilled on its own (reusing the engine's prompt cache), then its N
rows join the batch: the state's rows are left-padded to one width, and each row's own
positions and mask say which columns are its tokens. A row that leaves (finished, or its client
gone) is dropped by the next step's row index; a request that joins rewrites the state once,
dropping the padding no row needs any more.
"""

from __future__ import annotations

import numpy as np
import torch

from arxiv_tui.runtime.native.model import NativeCache, NativeModel, infer, read_states, write_states

_SLACK = 128  # columns of padding every row has that a step may carry before they are dropped


def _fit(state: np.ndarray, width: int) -> np.ndarray:
    """`state` [rows, heads, columns, d] with `width` columns: its last ones, or zeros in front."""
    columns = state.shape[2]
    if columns >= width:
        return state[:, :, columns - width :]
    padding = np.zeros((*state.shape[:2], width - columns, state.shape[3]), dtype=state.dtype)
    return np.concatenate([padding, state], axis=2)


class RowBatch:
    """One infer request whose state holds the rows of several requests."""

    def __init__(self, model: NativeModel) -> None:
        self.request = model.compiled.create_infer_request()
        self.width = 0  # columns of the state, padding included
        self.lengths: list[int] = []  # each row's own tokens (its last columns)
        self._rows = np.zeros(0, dtype=np.int32)  # the next step's beam_idx: state rows to continue

    @property
    def rows(self) -> int:
        return len(self.lengths)

    def _states(self) -> dict[str, np.ndarray]:
        """Each state's rows as the next step would continue them."""
        return {name: rows[self._rows] for name, rows in read_states(self.request).items()}

    def _write(self, states: dict[str, np.ndarray], width: int) -> None:
        write_states(self.request, states)
        self.width = width
        self._rows = np.arange(self.rows, dtype=np.int32)

    def add(self, prompt: NativeCache, count: int) -> None:
        """Append `count` rows, each continuing the one-row cache `prompt`."""
        prompt.settle()
        width = max([prompt.length, *self.lengths])  # padding no row needs is dropped here
        joining = read_states(prompt.request)
        current = self._states() if self.rows else {}
        states = {}
        for name, rows in joining.items():
            parts = [_fit(current[name], width)] if current else []
            parts.append(np.repeat(_fit(rows, width), count, axis=0))
            states[name] = np.concatenate(parts)
        self.lengths += [prompt.length] * count
        self._write(states, width)

    def keep(self, rows: list[int]) -> None:
        """Keep only `rows` (indices into the current rows), in that order."""
        self._rows = self._rows[rows]
        self.lengths = [self.lengths[row] for row in rows]
        if not self.lengths:
            self.request.reset_state()
            self.width = 0
            self._rows = np.zeros(0, dtype=np.int32)

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Run one token per row (`tokens` [rows]); float32 logits [rows, vocab]."""
        if self.width - max(self.lengths) > _SLACK:  # rows that ran long have left: drop their columns
            width = max(self.lengths)
            self._write({name: _fit(rows, width) for name, rows in self._states().items()}, width)
        lengths = np.array(self.lengths, dtype=np.int64)
        # Row r's tokens are the state's last lengths[r] columns, then the new one.
        mask = np.arange(self.width + 1)[None, None, :] >= (self.width - lengths)[:, None, None]
        inputs = {
            "input_ids": np.ascontiguousarray(tokens.numpy()[:, None], dtype=np.int64),
            "positions": lengths[:, None],
            "mask": mask,
            "beam_idx": self._rows,
            "logit_positions": np.zeros(1, dtype=np.int64),
        }
        logits = infer(self.request, inputs)[:, -1]
        self.width += 1
        self.lengths = [length + 1 for length in self.lengths]
        self._rows = np.arange(self.rows, dtype=np.int32)
        return logits
