"""Chunk bytes in another zarr store (S3 above all), the chunk index in MongoDB.

``MongoStore(uri, chunks="s3://bucket/lab")`` keeps node documents in
MongoDB as always, and puts each chunk's bytes in the chunk store under the
chunk's own key, so the bucket alone holds every chunk of the hierarchy
where zarr expects it. MongoDB keeps one small document per chunk::

    {_id: "raw/img1/c/0/3", node: "raw/img1", size: 1048576, external: true}

Keeping the index in MongoDB rather than listing the object store is what
keeps ``list``, ``list_dir``, ``getsize`` and ``exists`` as fast as with
inline chunks: one indexed query, where an S3 listing is paged at 1,000
keys per request (``benchmarks/s3_listing.py`` measures both).

Chunks up to the store's ``inline_threshold`` (0 by default with ``chunks=``,
so every non-empty chunk goes out) stay inline in MongoDB; larger ones go to
the chunk store instead of GridFS.

Ordering keeps the index from pointing at missing bytes: a write puts the
object first and then the index document; a delete removes the index
document first and then the object. A crash in between leaves at worst an
unindexed object, which the next write of that key replaces and ``clear``
removes. Two concurrent writers of the *same* chunk may leave the index
with one writer's size and the object with the other's bytes (last writer
of each wins); zarr partitions chunk writes, so this does not arise from
zarr itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymongo.errors import DuplicateKeyError
from zarr.abc.store import RangeByteRequest
from zarr.core.buffer import default_buffer_prototype

from mongozarr.errors import ChunkDataError
from mongozarr.layout import EXTERNAL, Layout
from mongozarr.storage.chunks.collection import ChunkCollection, byte_slice
from mongozarr.storage.chunks.gridfs import PieceFetcher

if TYPE_CHECKING:
    from zarr.abc.store import ByteRequest, Store

__all__ = ["ExternalChunks", "open_chunk_store"]


def open_chunk_store(chunks: Any, read_only: bool) -> Store:
    """The zarr store ``chunks`` names: a store as it is, or an S3/zip/directory URL.

    A MongoDB store for chunk bytes is passed as a store object, not a URL.
    """
    from zarr.abc.store import Store

    if isinstance(chunks, Store):
        return chunks
    from mongozarr.storage.object_stores import open_object_store

    return open_object_store(chunks, "r" if read_only else "a")


class ExternalChunks(ChunkCollection):
    """Chunk documents whose bytes live in another zarr store.

    Parameters
    ----------
    layout
        The collection names (``layout.chunks``).
    inline_threshold
        Values up to this many bytes stay inline in MongoDB.
    store
        The zarr store holding the bytes of larger values, under their keys.
    """

    large_values_in_gridfs = False

    def __init__(self, layout: Layout, inline_threshold: int, store: Store) -> None:
        super().__init__(layout, inline_threshold)
        self.store = store

    # ------------------------------------------------------------------ reads

    async def read_document(
        self,
        db: Any,
        doc: dict[str, Any],
        byte_range: ByteRequest | None,
        fetch_pieces: PieceFetcher | None = None,
    ) -> bytes | None:
        # docstring inherited
        if not doc.get(EXTERNAL):
            return await super().read_document(db, doc, byte_range, fetch_pieces)
        # MongoDB knows the size: resolve the range here, exactly as for inline
        # chunks, and ask the object store only for bytes that exist (S3
        # answers a range past the end with an error).
        start, stop = byte_slice(doc["size"], byte_range)
        if start == stop:
            return b""
        request = None if (start, stop) == (0, doc["size"]) else RangeByteRequest(start, stop)
        value = await self.store.get(doc["_id"], default_buffer_prototype(), request)
        if value is not None:
            return value.to_bytes()
        if not await self.exists(db, doc["_id"]):
            return None  # deleted while we read: the caller sees it gone
        raise ChunkDataError(
            f"chunk {doc['_id']!r} is indexed in MongoDB but missing from {self.store}"
        )

    # ----------------------------------------------------------------- writes

    async def build_document(self, db: Any, key: str, node: str, data: bytes) -> dict[str, Any]:
        # docstring inherited
        if len(data) <= self.inline_threshold:
            return self.inline_document(key, node, data)
        await self.store.set(key, default_buffer_prototype().buffer.from_bytes(data))
        return self.external_document(key, node, data)

    @staticmethod
    def external_document(key: str, node: str, data: bytes) -> dict[str, Any]:
        return {"_id": key, "node": node, "size": len(data), EXTERNAL: True}

    async def write_if_absent(self, db: Any, key: str, node: str, data: bytes) -> bool:
        # docstring inherited
        if len(data) <= self.inline_threshold:
            return await super().write_if_absent(db, key, node, data)
        if await self.exists(db, key):
            return False
        # The object store's own atomic create, then the index document's.
        await self.store.set_if_not_exists(key, default_buffer_prototype().buffer.from_bytes(data))
        try:
            await db[self.name].insert_one(self.external_document(key, node, data))
        except DuplicateKeyError:
            return False
        return True

    async def delete_prefix(self, db: Any, prefix: str) -> None:
        # docstring inherited
        await super().delete_prefix(db, prefix)
        # Every object under the prefix, indexed or left over from a crash.
        await self.store.delete_dir(prefix)

    async def clear(self, db: Any) -> None:
        # docstring inherited
        await super().clear(db)
        await self.store.delete_dir("")

    async def release(self, db: Any, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        # docstring inherited
        await super().release(db, old, new)
        if old is not None and old.get(EXTERNAL) and not (new is not None and EXTERNAL in new):
            # The new value is inline (or gone); an overwrite in place keeps the object.
            await self.store.delete(old["_id"])
