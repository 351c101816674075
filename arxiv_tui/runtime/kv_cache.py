"""The preallocated key/value cache every model family writes into in place.

Sized by the key/value heads (grouped-query attention keeps fewer than the query heads), so a
Qwen2.5-0.5B row holds 2 heads per layer where its queries have 14.
"""

from __future__ import annotations

from typing import Protocol

import torch


class Cache(Protocol):
    """What the engine and the scorer do with a model's cache, whichever runtime keeps it."""

    length: int  # positions filled

    @property
    def batch(self) -> int: ...

    @property
    def capacity(self) -> int: ...

    def expanded(self, batch: int, capacity: int) -> Cache: ...

    def keep_rows(self, rows: torch.Tensor) -> None: ...

    def truncate(self, length: int) -> None: ...

    def grown(self, capacity: int) -> Cache: ...


class KVCache:
    """Keys and values of every layer, preallocated to `capacity` positions.

    Tensors are [layers, batch, key/value heads, capacity, head_dim]; `length` positions are filled.
    """

    def __init__(
        self, layers: int, kv_heads: int, head_dim: int, batch: int, capacity: int, dtype: torch.dtype
    ) -> None:
        dims = (layers, batch, kv_heads, capacity, head_dim)
        self.keys = torch.empty(dims, dtype=dtype)
        self.values = torch.empty(dims, dtype=dtype)
        self.length = 0

    @property
    def batch(self) -> int:
        return self.keys.shape[1]

    @property
    def capacity(self) -> int:
        return self.keys.shape[3]

    def _copy(self, batch: int, capacity: int, rows: slice) -> KVCache:
        """A new cache of `batch` rows and `capacity` positions holding this one's filled part."""
        out = KVCache.__new__(KVCache)
        dims = (self.keys.shape[0], batch, self.keys.shape[2], capacity, self.keys.shape[4])
        out.keys = torch.empty(dims, dtype=self.keys.dtype)
        out.values = torch.empty(dims, dtype=self.values.dtype)
        out.keys[:, :, :, : self.length] = self.keys[:, rows, :, : self.length]
        out.values[:, :, :, : self.length] = self.values[:, rows, :, : self.length]
        out.length = self.length
        return out

    def expanded(self, batch: int, capacity: int) -> KVCache:
        """A new cache of `batch` rows, each a copy of this one-row cache's filled part."""
        return self._copy(batch, capacity, slice(0, 1))  # one row broadcast to all

    def keep_rows(self, rows: torch.Tensor) -> None:
        """Drop every batch row not listed in `rows` (finished alternatives stop costing work)."""
        self.keys = self.keys[:, rows]  # advanced indexing copies into fresh, contiguous storage
        self.values = self.values[:, rows]

    def truncate(self, length: int) -> None:
        """Forget every position from `length` on (a prompt that shares only a prefix)."""
        self.length = min(self.length, length)

    def grown(self, capacity: int) -> KVCache:
        """This cache with room for `capacity` positions (a copy only when it must grow)."""
        if capacity <= self.capacity:
            return self
        return self._copy(self.batch, capacity, slice(None))
