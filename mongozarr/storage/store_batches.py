"""The request batches of one store: node reads and creations, chunk reads and writes, GridFS pieces.

zarr calls a store once per key with many calls in flight; the calls of one
event-loop turn are served together (:class:`~mongozarr.storage.batching.Coalescer`),
one set of coalescers per event loop. Chunk read batches are sized so that one
reply stays under MongoDB's 16 MiB, write batches so that one request stays
under its 48 MB message, from the largest chunk seen so far. Writes are held
from their first request on (see ``spread`` in :meth:`Coalescer.submit`): zarr
encodes each chunk in a worker thread before it calls ``set``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mongozarr.layout import KEYS_PER_QUERY
from mongozarr.storage.batching import Coalescer, PerLoop
from mongozarr.storage.node_inserts import insert_nodes
from mongozarr.storage.node_reads import Absent, Handout, Read, fetch_nodes

if TYPE_CHECKING:
    from zarr.abc.store import ByteRequest

    from mongozarr.storage.chunks.collection import ChunkCollection
    from mongozarr.storage.state import StoreState

__all__ = ["StoreBatches"]

# Replies are cut at 16 MiB by MongoDB; size batches to fit one.
_REPLY_BYTES = 16 * 1024 * 1024
# A write request (one bulk write, one insert) goes in one message of at most 48 MB.
_MESSAGE_BYTES = 48_000_000
# How fast a worker thread encodes a chunk on a busy machine (zstd, blosc: several
# hundred MB/s on one core): writes of chunks this size arrive about that far apart.
_ENCODE_BYTES_PER_S = 200_000_000
_MAX_KEYS_PER_QUERY = KEYS_PER_QUERY  # every server takes an $in this long


@dataclass
class _Batches:
    """The request coalescers of one event loop."""

    node_reads: Coalescer[str]
    node_inserts: Coalescer[object]
    chunk_reads: Coalescer[str]
    chunk_writes: Coalescer[str]
    gridfs_reads: Coalescer[Any]
    large_writes: Coalescer[str]


def _concurrency() -> int:
    """zarr's ``async.concurrency``: how many chunk requests zarr keeps in flight."""
    import zarr

    return int(zarr.config.get("async.concurrency"))


def _encode_time(data: bytes) -> float:
    """About how long zarr takes to encode ``data``: how far apart its writes of such chunks arrive."""
    return len(data) / _ENCODE_BYTES_PER_S


class StoreBatches:
    """The coalescers of one store, per event loop.

    Parameters
    ----------
    database
        The async database handle of the running event loop.
    nodes_name
        The node collection.
    chunks
        The store's chunk documents.
    state
        Where the chunk size hint is learned.
    """

    def __init__(
        self, database: Callable[[], Any], nodes_name: str, chunks: ChunkCollection, state: StoreState
    ) -> None:
        self._database = database
        self._nodes_name = nodes_name
        self._chunks = chunks
        self._state = state
        self._per_loop = PerLoop(self._new_batches)

    def node_reads(self) -> Coalescer[str]:
        """The node document reads of the running loop (see :func:`~mongozarr.storage.node_reads.fetch_nodes`)."""
        return self._per_loop.get().node_reads

    async def insert_node(self, document: dict[str, Any]) -> bool:
        """Insert a new node document, in one bulk write with the others of this loop turn.

        False if a node document with its ``_id`` exists (see :mod:`~mongozarr.storage.node_inserts`).
        """
        # A token per request: two creations of one node in one turn each get their outcome.
        return bool(await self._per_loop.get().node_inserts.submit(object(), document))

    async def read_chunk(self, db: Any, key: str, byte_range: ByteRequest | None) -> bytes | None:
        """The bytes at chunk ``key`` (or a range of them); None if absent."""
        batches = self._per_loop.get()
        doc = await batches.chunk_reads.submit(key)
        if doc is None:
            return None
        data = await self._chunks.read_document(db, doc, byte_range, batches.gridfs_reads.submit)
        if data is None:
            # Its GridFS file was replaced while we read: follow the new pointer.
            data = await self._chunks.read(db, key, byte_range)
        return data

    async def write_small_chunk(self, key: str, node: str, data: bytes) -> None:
        """Write an inline chunk, in one bulk write with the others zarr has in flight."""
        self._state.learn_size(len(data))
        await self._per_loop.get().chunk_writes.submit(key, (node, data), spread=_encode_time(data))

    async def write_large_chunk(self, key: str, node: str, data: bytes) -> None:
        """Write a chunk above the inline threshold (GridFS), batched with the others in flight."""
        await self._per_loop.get().large_writes.submit(key, (node, data), spread=_encode_time(data))

    def _new_batches(self) -> _Batches:
        return _Batches(
            node_reads=Coalescer(self._fetch_nodes, lambda: _MAX_KEYS_PER_QUERY),
            node_inserts=Coalescer(
                lambda docs: insert_nodes(self._database()[self._nodes_name], docs), lambda: _MAX_KEYS_PER_QUERY
            ),
            chunk_reads=Coalescer(self._fetch_chunks, self._chunks_per_reply, fill=_concurrency),
            chunk_writes=Coalescer(self._write_chunks, self._chunks_per_message, fill=_concurrency),
            gridfs_reads=Coalescer(
                lambda spans: self._chunks.fetch_pieces(self._database(), spans), lambda: _MAX_KEYS_PER_QUERY
            ),
            large_writes=Coalescer(self._write_large_chunks, lambda: _MAX_KEYS_PER_QUERY, fill=_concurrency),
        )

    def _chunks_per_reply(self) -> int:
        return max(1, min(_MAX_KEYS_PER_QUERY, _REPLY_BYTES // self._state.size_hint))

    def _chunks_per_message(self) -> int:
        # Not the reply bound: a bulk write's reply is small, its request is not.
        return max(1, min(_MAX_KEYS_PER_QUERY, _MESSAGE_BYTES // self._state.size_hint))

    async def _fetch_nodes(self, requests: dict[str, list[Read | None]]) -> dict[str, Handout | Absent]:
        return await fetch_nodes(self._database()[self._nodes_name], requests)

    async def _fetch_chunks(self, keys: dict[str, None]) -> dict[str, Any]:
        docs = await self._chunks.find_documents(self._database(), list(keys), self._chunks_per_reply())
        inline = [doc["size"] for doc in docs.values() if "data" in doc]
        if inline:
            self._state.learn_size(max(inline))
        return docs

    async def _write_chunks(self, requests: dict[str, list[tuple[str, bytes]]]) -> dict[str, Any]:
        # One key written twice in one turn: the later value wins, as if written after.
        items = {key: payloads[-1] for key, payloads in requests.items()}
        return await self._chunks.write_many(self._database(), items)

    async def _write_large_chunks(self, requests: dict[str, list[tuple[str, bytes]]]) -> dict[str, Any]:
        items = {key: payloads[-1] for key, payloads in requests.items()}
        return await self._chunks.write_large_many(self._database(), items)
