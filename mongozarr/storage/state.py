"""What one store has learned from its reads and writes.

Nothing here is configuration: it is rebuilt empty when a store is unpickled,
and a :meth:`~mongozarr.MongoStore.sibling` gets its own merge bases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mongozarr.documents import decode_value
from mongozarr.layout import key_of
from mongozarr.storage.views import Views
from mongozarr.storage.walk_snapshots import WalkClock

__all__ = ["StoreState"]


@dataclass
class StoreState:
    """The node knowledge of one store.

    Attributes
    ----------
    views
        What zarr objects of this store hold of each node: the merge bases.
    arrays
        Node paths known to be arrays (chunk keys are filed under them).
    absent
        Node paths this store last read as absent: a write there is a creation.
    size_hint
        The largest inline chunk seen (until one is seen, the inline
        threshold): bounds how many chunks one reply carries.
    walks
        The write generation and walk snapshots (shared with siblings).
    """

    size_hint: int
    views: Views = field(default_factory=Views)
    arrays: set[str] = field(default_factory=set)
    absent: set[str] = field(default_factory=set)
    size_hint_known: bool = False
    walks: WalkClock = field(default_factory=WalkClock)

    def sibling(self) -> StoreState:
        """The state of a sibling store: the arrays shared, its own merge bases."""
        return StoreState(
            size_hint=self.size_hint,
            views=Views(),
            arrays=self.arrays,
            absent=set(self.absent),
            size_hint_known=self.size_hint_known,
            walks=self.walks,
        )

    def learn_size(self, size: int) -> None:
        """Learn the size of one stored chunk."""
        # Until a real size is seen the hint is the inline threshold (safe);
        # then it follows the largest chunk seen.
        if not self.size_hint_known:
            self.size_hint, self.size_hint_known = max(size, 1), True
        else:
            self.size_hint = max(self.size_hint, size)

    def learn(self, doc: dict[str, Any], inline_threshold: int) -> None:
        """Learn from a node document read: whether it is an array, how big its chunks are."""
        if doc.get("node_type") == "array":
            self.arrays.add(doc["_id"])
            estimate = chunk_bytes(doc["zarr_format"], doc.get("metadata") or {})
            if estimate is not None:
                # Stored chunks are at most about their uncompressed size.
                self.learn_size(min(estimate, inline_threshold) if inline_threshold else estimate)
        else:
            self.arrays.discard(doc["_id"])

    def wrote(self, path: str, node_type: str | None) -> None:
        """A metadata write made the node at ``path`` of ``node_type`` (None: v2 attributes only)."""
        self.absent.discard(path)
        if node_type == "array":
            self.arrays.add(path)
        elif node_type == "group":
            self.arrays.discard(path)

    def forget(self, path: str) -> None:
        """The node metadata at ``path`` was removed."""
        self.views.forget(path)
        self.arrays.discard(path)

    def forget_prefix(self, prefix: str) -> None:
        """Every key under ``prefix`` (ending in ``/``, or ``""`` for all) was removed."""
        self.views.forget_prefix(prefix)
        self.arrays.difference_update(
            {p for p in self.arrays if not prefix or key_of(p, "").startswith(prefix)}
        )


def chunk_bytes(zarr_format: int, metadata: dict[str, Any]) -> int | None:
    """The uncompressed size of one stored chunk (or shard) of an array, if known."""
    try:
        if zarr_format == 3:
            shape = metadata["chunk_grid"]["configuration"]["chunk_shape"]
            data_type = metadata["data_type"]
            dtype = np.dtype(data_type if isinstance(data_type, str) else data_type["name"])
        else:
            shape, dtype = metadata["chunks"], np.dtype(decode_value(metadata["dtype"]))
    except (KeyError, TypeError, ValueError):
        return None
    return int(np.prod(shape, dtype=np.int64)) * max(dtype.itemsize, 1)
