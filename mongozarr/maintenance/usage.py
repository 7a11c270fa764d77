"""How many bytes each array stores: summed from the chunk index, without reading a chunk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from zarr.core.sync import sync

from mongozarr.layout import subtree

if TYPE_CHECKING:
    from mongozarr.storage.store import MongoStore

__all__ = ["NodeUsage", "disk_usage", "disk_usage_async"]


@dataclass(frozen=True)
class NodeUsage:
    """The chunks stored for one node.

    Attributes
    ----------
    path
        The node path (``""`` is the root).
    chunks
        How many chunk documents it has.
    stored_bytes
        Their summed size, as stored (compressed).
    """

    path: str
    chunks: int
    stored_bytes: int


async def disk_usage_async(store: MongoStore, under: str = "") -> list[NodeUsage]:
    """See :func:`disk_usage`."""
    match = subtree(under.strip("/"), field="node")
    pipeline = [
        {"$match": match},
        {"$group": {"_id": "$node", "chunks": {"$sum": 1}, "bytes": {"$sum": "$size"}}},
    ]
    cursor = await store.database()[store.layout.chunks].aggregate(pipeline)
    rows = await cursor.to_list()
    return sorted((NodeUsage(str(r["_id"]), int(r["chunks"]), int(r["bytes"])) for r in rows),
                  key=lambda usage: usage.path)


def disk_usage(store: MongoStore, under: str = "") -> list[NodeUsage]:
    """Stored bytes and chunk counts per node at and below ``under``, in path order.

    One aggregation over the chunk index (its ``node`` and ``size`` fields);
    nodes without chunks are not listed.
    """
    return sync(disk_usage_async(store, under))
