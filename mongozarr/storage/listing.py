"""Listing a store's keys from node and chunk documents, each query answered from an index.

Node metadata keys are synthesised from node documents (``a/b`` holds
``a/b/zarr.json``, ...); every other key is a chunk document's ``_id``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from mongozarr.documents import metadata_names, render_metadata
from mongozarr.layout import (
    NODES_PER_REPLY,
    dir_prefixes,
    in_batches,
    key_of,
    prefix_regex,
    strictly_below,
    subtree,
)
from mongozarr.storage.chunks.collection import ChunkCollection
from mongozarr.storage.node_reads import NAMES_PROJECTION
from mongozarr.storage.walk_snapshots import WalkClock, WalkSnapshot, depth_of

__all__ = ["Listing"]

_SCAN_BATCH = 1000


def _holding(prefix: str) -> dict[str, Any]:
    """Node documents that may hold a key starting with ``prefix`` (which ends in ``/`` or is empty).

    The node at ``a/b`` holds keys ``a/b/zarr.json`` etc., so ``a/b/``
    matches that node and all below.
    """
    if not prefix:
        return {}
    if prefix == "/":  # no node path starts with "/": the root and any such key
        return {"$or": [{"_id": ""}, {"_id": prefix_regex(prefix)}]}
    return subtree(prefix[:-1])


class Listing:
    """The listing queries of one store.

    Parameters
    ----------
    nodes_name
        The node collection.
    chunks
        The store's chunk documents.
    """

    def __init__(self, nodes_name: str, chunks: ChunkCollection) -> None:
        self.nodes_name = nodes_name
        self.chunks = chunks

    async def list_prefix(self, db: Any, prefix: str) -> AsyncIterator[str]:
        """Every key starting with ``prefix``: node metadata keys, then chunk keys in key order."""
        directory = prefix.rpartition("/")[0]
        node_query: dict[str, Any] = {}
        if prefix:
            node_query = {"$or": [{"_id": prefix_regex(prefix)}, {"_id": directory}]}
        emitted: set[str] = set()
        for path, names in await self._names_of(db[self.nodes_name], node_query):
            for name in names:
                key = key_of(path, name)
                if key.startswith(prefix):
                    emitted.add(key)
                    yield key
        async for doc in self.chunks.find_keys(db, prefix):
            if doc["_id"] not in emitted:
                yield doc["_id"]

    async def list_dir(self, db: Any, prefix: str, walks: WalkClock) -> AsyncIterator[str]:
        """The distinct names directly under ``prefix``.

        Served from the running walk's snapshot where it can (see
        :mod:`~mongozarr.storage.walk_snapshots`): a walk costs one query per level.
        """
        prefix = prefix.rstrip("/")
        snapshot = walks.current()
        if snapshot is not None and snapshot.can_list(prefix):
            await self._fetch_level(db, snapshot, depth_of(prefix) + 1)
        else:
            snapshot = await self._begin_walk(db, prefix, walks)
        snapshot.listed.add(prefix)
        names = snapshot.names_in(prefix)
        if snapshot.has_loose_chunks(prefix):
            # Chunk keys of no node below (the array's own "c/", v2 keys, raw keys).
            base = f"{prefix}/" if prefix else ""
            loose = {"node": {"$not": prefix_regex(base)}} if base else {"node": ""}
            async for child in _scan_children(db[self.chunks.name], base, loose):
                names.append(child)
        for name in dict.fromkeys(names):
            yield name

    async def _begin_walk(self, db: Any, prefix: str, walks: WalkClock) -> WalkSnapshot:
        """A snapshot rooted at ``prefix``: its node and children, the directories and chunk nodes below.

        The node and its children come by ``_id`` and ``parent``; directories
        of deeper nodes (also those whose intermediate nodes have no document)
        by one ``$group`` on ``parent``; the nodes that have chunks by a
        ``distinct`` on the chunks' ``node`` index.
        """
        nodes, chunks = db[self.nodes_name], db[self.chunks.name]
        depth = depth_of(prefix)
        generation = walks.generation
        if prefix:
            chunk_query: dict[str, Any] = {
                "$or": [{"node": {"$in": [prefix, *dir_prefixes(prefix)]}}, {"node": prefix_regex(prefix + "/")}]
            }
        else:
            chunk_query = {}
        docs, parents, chunk_nodes = await asyncio.gather(
            nodes.find({"$or": [{"_id": prefix}, {"parent": prefix}]}, batch_size=NODES_PER_REPLY).to_list(),
            _deeper_parents(nodes, prefix, depth),
            chunks.distinct("node", chunk_query),
        )
        snapshot = WalkSnapshot(prefix, generation, parents, chunk_nodes)
        snapshot.add_level(depth, [doc for doc in docs if doc["_id"] == prefix])
        snapshot.add_level(depth + 1, [doc for doc in docs if doc["_id"] != prefix])
        walks.begin(snapshot)
        return snapshot

    async def _fetch_level(self, db: Any, snapshot: WalkSnapshot, depth: int) -> None:
        """Make sure ``snapshot`` holds every node at ``depth`` under its root (one query per level)."""
        if depth in snapshot.levels:
            return
        task = snapshot.pending.get(depth)
        if task is None:
            # Sibling listings of one level running at once share one query.
            task = snapshot.pending[depth] = asyncio.ensure_future(self._read_level(db, snapshot, depth))
        await asyncio.shield(task)

    async def _read_level(self, db: Any, snapshot: WalkSnapshot, depth: int) -> None:
        try:
            parents = snapshot.parents_at(depth - 1)
            docs = []
            for batch in in_batches(parents):
                query = {"parent": {"$in": list(batch)}}
                docs += await db[self.nodes_name].find(query, batch_size=NODES_PER_REPLY).to_list()
            snapshot.add_level(depth, docs)
        finally:
            snapshot.pending.pop(depth, None)

    async def size_of_prefix(self, db: Any, prefix: str) -> int:
        """The summed size of every key starting with ``prefix`` (ending in ``/`` or empty)."""
        total = await self.chunks.total_size(db, prefix)
        async for doc in db[self.nodes_name].find(_holding(prefix)):
            for name in metadata_names(doc):
                if key_of(doc["_id"], name).startswith(prefix):
                    total += len(render_metadata(doc, name) or b"")
        return total

    async def delete_prefix(self, db: Any, prefix: str) -> None:
        """Delete every key starting with ``prefix`` (ending in ``/`` or empty)."""
        await db[self.nodes_name].delete_many(_holding(prefix))
        await self.chunks.delete_prefix(db, prefix)

    async def _names_of(self, nodes: Any, query: dict[str, Any]) -> list[tuple[str, list[str]]]:
        """(path, metadata key names) of the node documents matching ``query``.

        Attributes are not fetched (they can be large); whether a v2 node has
        ``.zattrs`` is asked separately, and only when there are v2 nodes.
        """
        docs = await nodes.find(query, NAMES_PROJECTION).to_list()
        v2_ids = [d["_id"] for d in docs if d["zarr_format"] == 2]
        if v2_ids:
            with_attributes = {
                d["_id"]
                for batch in in_batches(v2_ids)
                for d in await nodes.find(
                    {"_id": {"$in": list(batch)}, "attributes": {"$exists": True}}, {"_id": 1}
                ).to_list()
            }
            for doc in docs:
                if doc["_id"] in with_attributes:
                    doc["attributes"] = {}
        return [(doc["_id"], metadata_names(doc)) for doc in docs]


async def _deeper_parents(nodes: Any, prefix: str, depth: int) -> list[str]:
    """Every ``parent`` of a node more than one level below ``prefix`` (at ``depth``).

    A ``$group`` rather than a ``distinct``: its reply is a cursor, so a tree
    of very many groups does not hit the 16 MiB limit of one ``distinct``
    reply (and the local server answers it several times faster).
    """
    match = {**strictly_below(prefix), "depth": {"$gt": depth + 1}}
    cursor = await nodes.aggregate([{"$match": match}, {"$group": {"_id": "$parent"}}], batchSize=NODES_PER_REPLY)
    return [doc["_id"] async for doc in cursor]


async def _scan_children(
    collection: Any, base: str, extra: dict[str, Any] | None = None
) -> AsyncIterator[str]:
    """The distinct first path components of ``_id``s under ``base``.

    Walks ``_id`` in index order and jumps over every subtree it meets
    (``"a/"`` sorts just below ``"a0"``), so a directory holding a million
    chunks costs one query, not a million keys.
    """
    bound: dict[str, str] = {"$gte": base}
    while True:
        query = {"_id": {**bound, **prefix_regex(base)}} if base else {"_id": bound}
        query.update(extra or {})
        docs = await collection.find(query, {"_id": 1}).sort("_id", 1).limit(_SCAN_BATCH).to_list()
        for doc in docs:
            head, sep, _ = doc["_id"][len(base) :].partition("/")
            if not head:
                continue
            yield head
            if sep:
                bound = {"$gte": base + head + "0"}  # "0" follows "/" in byte order
                break
            bound = {"$gt": doc["_id"]}
        else:
            if len(docs) < _SCAN_BATCH:
                return
