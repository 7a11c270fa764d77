"""Chunk documents: inline bytes, or a pointer to a GridFS file.

Every store key that is not node metadata is one document of
``<prefix>.chunks``::

    {_id: key, node: "raw/img1", size: 1048576, data: BinData}      # inline
    {_id: key, node: "raw/img1", size: 90000000, gridfs_id: ObjectId} # GridFS

Chunk documents are built here only. Large values go to the GridFS bucket
(:mod:`mongozarr.storage.chunks.gridfs`). A GridFS file is immutable: an
overwrite writes a new file, swaps the pointer atomically, then deletes the
old file. A reader that loses the race sees a short read and retries from the
pointer, so it never returns torn bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError
from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, SuffixByteRequest

from mongozarr.errors import ChunkDataError
from mongozarr.layout import EXTERNAL, GRIDFS_ID, Layout, prefix_regex
from mongozarr.storage.chunks.gridfs import GRIDFS_CHUNK_BYTES, GridFSFiles, PieceFetcher, Span
from mongozarr.storage.writes import Replace

__all__ = ["GRIDFS_CHUNK_BYTES", "ChunkCollection", "byte_slice"]

_READ_RETRIES = 8
_DUPLICATE_KEY = 11000


def byte_slice(size: int, byte_range: ByteRequest | None) -> tuple[int, int]:
    """Resolve a zarr byte request against a value of ``size`` bytes."""
    if byte_range is None:
        start, stop = 0, size
    elif isinstance(byte_range, RangeByteRequest):
        start, stop = byte_range.start, byte_range.end
    elif isinstance(byte_range, OffsetByteRequest):
        start, stop = byte_range.offset, size
    elif isinstance(byte_range, SuffixByteRequest):
        start, stop = max(0, size - byte_range.suffix), size
    else:
        raise ValueError(f"Unexpected byte_range, got {byte_range!r}")
    start = min(max(start, 0), size)
    return start, min(max(stop, start), size)


class ChunkCollection:
    """Reads and writes chunk documents and their GridFS files.

    Parameters
    ----------
    layout
        The collection names (``layout.chunks``, the GridFS bucket ``layout.fs_*``).
    inline_threshold
        Values up to this many bytes are stored inline; larger go to GridFS.
    """

    #: Whether values above the inline threshold go to this GridFS bucket
    #: (:meth:`write_large_many` batches them); a subclass may put them elsewhere.
    large_values_in_gridfs = True

    def __init__(self, layout: Layout, inline_threshold: int) -> None:
        self.name = layout.chunks
        self.gridfs = GridFSFiles(layout)
        self.inline_threshold = inline_threshold

    # ------------------------------------------------------------------ reads

    async def read(self, db: Any, key: str, byte_range: ByteRequest | None) -> bytes | None:
        """The bytes at ``key`` (or a range of them); ``None`` if absent."""
        for _ in range(_READ_RETRIES):
            doc = await db[self.name].find_one({"_id": key})
            if doc is None:
                return None
            data = await self.read_document(db, doc, byte_range)
            if data is not None:
                return data
            # The GridFS file was replaced while we read it: follow the new pointer.
        raise ChunkDataError(f"chunk {key!r} kept changing while being read")

    async def read_document(
        self,
        db: Any,
        doc: dict[str, Any],
        byte_range: ByteRequest | None,
        fetch_pieces: PieceFetcher | None = None,
    ) -> bytes | None:
        """The bytes a chunk document holds; ``None`` if its GridFS file vanished.

        ``fetch_pieces`` serves the GridFS part (default: one query here); the
        store passes a coalescer so that concurrent reads share one query.
        """
        start, stop = byte_slice(doc["size"], byte_range)
        if GRIDFS_ID not in doc:
            return bytes(doc["data"][start:stop])
        if start == stop:
            return b""
        span = self.gridfs.span(doc[GRIDFS_ID], start, stop)
        if fetch_pieces is None:
            pieces = (await self.gridfs.fetch_pieces(db, [span]))[span]
        else:
            pieces = await fetch_pieces(span)
        return None if pieces is None else self.gridfs.cut(pieces, span, start, stop)

    async def fetch_pieces(self, db: Any, spans: Iterable[Span]) -> dict[Span, list[bytes] | None]:
        """The GridFS pieces of each span, in one query (see :meth:`GridFSFiles.fetch_pieces`)."""
        return await self.gridfs.fetch_pieces(db, spans)

    async def find_documents(self, db: Any, keys: list[str], batch_size: int) -> dict[str, dict[str, Any]]:
        """The chunk documents at ``keys`` (those that exist), in one query."""
        cursor = db[self.name].find({"_id": {"$in": keys}}, batch_size=batch_size)
        return {doc["_id"]: doc for doc in await cursor.to_list()}

    async def exists(self, db: Any, key: str) -> bool:
        """Whether a value is stored at ``key``."""
        return await db[self.name].find_one({"_id": key}, {"_id": 1}) is not None

    async def size(self, db: Any, key: str) -> int | None:
        """The size of the value at ``key``, without reading it."""
        doc = await db[self.name].find_one({"_id": key}, {"size": 1})
        return None if doc is None else int(doc["size"])

    async def total_size(self, db: Any, prefix: str) -> int:
        """The summed size of every value whose key starts with ``prefix``."""
        match = {"_id": prefix_regex(prefix)} if prefix else {}
        cursor = await db[self.name].aggregate(
            [{"$match": match}, {"$group": {"_id": None, "total": {"$sum": "$size"}}}]
        )
        rows = await cursor.to_list()
        return int(rows[0]["total"]) if rows else 0

    def find_keys(self, db: Any, prefix: str) -> Any:
        """A cursor over the keys (``_id`` only) starting with ``prefix``, in key order."""
        query = {"_id": prefix_regex(prefix)} if prefix else {}
        return db[self.name].find(query, {"_id": 1}).sort("_id", 1)

    # ----------------------------------------------------------------- writes

    def inline_document(self, key: str, node: str, data: bytes) -> dict[str, Any]:
        """The chunk document holding ``data`` itself."""
        return {"_id": key, "node": node, "size": len(data), "data": data}

    async def build_document(self, db: Any, key: str, node: str, data: bytes) -> dict[str, Any]:
        """The chunk document for ``data``, its bytes put where they belong first."""
        if len(data) <= self.inline_threshold:
            return self.inline_document(key, node, data)
        file_id = await self.gridfs.upload(db, key, data)
        return {"_id": key, "node": node, "size": len(data), GRIDFS_ID: file_id}

    async def write(self, db: Any, key: str, node: str, data: bytes) -> None:
        """Store ``data`` at ``key``, replacing what was there."""
        doc = await self.build_document(db, key, node, data)
        old = await db[self.name].find_one_and_replace(
            {"_id": key},
            doc,
            upsert=True,
            projection={GRIDFS_ID: 1, EXTERNAL: 1},
            return_document=ReturnDocument.BEFORE,
        )
        await self.release(db, old, doc)

    async def write_many(self, db: Any, items: dict[str, tuple[str, bytes]]) -> dict[str, Exception]:
        """Store small values (inline) in one bulk write: ``key -> (node, data)``.

        Returns the error of each key that failed. Only documents without a
        GridFS file (or external object) are replaced in bulk; one that has a
        file fails the filter, hits the duplicate ``_id``, and is written
        singly so that its old file is freed.
        """
        keys = list(items)
        requests = [
            Replace(
                {"_id": key, GRIDFS_ID: {"$exists": False}, EXTERNAL: {"$exists": False}},
                self.inline_document(key, node, data),
                upsert=True,
            )
            for key, (node, data) in items.items()
        ]
        # A duplicate key: the chunk is in GridFS or external now; write it the long way.
        raced, failed = await _bulk_write(db[self.name], keys, requests)
        for key in raced:
            node, data = items[key]
            try:
                await self.write(db, key, node, data)
            except PyMongoError as single_error:
                failed[key] = single_error
        return failed

    async def write_large_many(self, db: Any, items: dict[str, tuple[str, bytes]]) -> dict[str, Exception]:
        """Store values above the inline threshold (GridFS) together: ``key -> (node, data)``.

        The order of :meth:`write`, for all keys at once: the new files
        (pieces in one insert, files documents in one), then the pointer swaps
        in one bulk write, then the old files' deletion. Each swap is
        conditional on the pointer read just before; a key whose pointer
        changed meanwhile is swapped singly by :meth:`write` (which frees
        whatever it replaces) and its new file reused. Returns the error of
        each key that failed.
        """
        if not self.large_values_in_gridfs:
            return await self._write_each(db, items)
        keys = list(items)
        olds = {
            doc["_id"]: doc.get(GRIDFS_ID)
            for doc in await db[self.name].find({"_id": {"$in": keys}}, {GRIDFS_ID: 1, EXTERNAL: 1}).to_list()
            if EXTERNAL not in doc
        }
        ids = await self.gridfs.upload_many(db, {key: data for key, (_, data) in items.items()})
        docs = {
            key: {"_id": key, "node": node, "size": len(data), GRIDFS_ID: ids[key]}
            for key, (node, data) in items.items()
        }
        requests = [
            Replace(
                {"_id": key, GRIDFS_ID: olds[key] if olds.get(key) is not None else {"$exists": False},
                 EXTERNAL: {"$exists": False}},
                docs[key],
                upsert=True,
            )
            for key in keys
        ]
        lost, failed = await _bulk_write(db[self.name], keys, requests)
        # Refused swaps left their new files unreferenced: free them too.
        orphans = [ids[key] for key in failed]
        for key in lost:
            # The pointer moved since it was read: swap it singly, freeing what it replaces.
            try:
                old = await db[self.name].find_one_and_replace(
                    {"_id": key}, docs[key], upsert=True,
                    projection={GRIDFS_ID: 1, EXTERNAL: 1}, return_document=ReturnDocument.BEFORE,
                )
                await self.release(db, old, docs[key])
            except PyMongoError as single_error:
                failed[key] = single_error
        swapped = [key for key in keys if key not in lost and key not in failed]
        await self.gridfs.delete(db, [olds[key] for key in swapped if olds.get(key) is not None])
        if orphans:
            await self.gridfs.delete(db, orphans)
        return failed

    async def _write_each(self, db: Any, items: dict[str, tuple[str, bytes]]) -> dict[str, Exception]:
        """:meth:`write` per key, concurrently; the error of each key that failed."""
        results = await asyncio.gather(
            *(self.write(db, key, node, data) for key, (node, data) in items.items()), return_exceptions=True
        )
        failed: dict[str, Exception] = {}
        for key, result in zip(items, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                failed[key] = result
        return failed

    async def write_if_absent(self, db: Any, key: str, node: str, data: bytes) -> bool:
        """Store ``data`` at ``key`` only if nothing is there (atomic); True if stored."""
        doc = await self.build_document(db, key, node, data)
        try:
            await db[self.name].insert_one(doc)
        except DuplicateKeyError:
            if GRIDFS_ID in doc:
                await self.gridfs.delete(db, [doc[GRIDFS_ID]])
            return False
        return True

    async def delete(self, db: Any, key: str) -> None:
        """Delete the value at ``key`` and what it points to; silent if absent."""
        old = await db[self.name].find_one_and_delete({"_id": key}, projection={GRIDFS_ID: 1, EXTERNAL: 1})
        await self.release(db, old, None)

    async def release(self, db: Any, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """Free what a replaced (by ``new``) or deleted chunk document pointed to."""
        if old is not None and GRIDFS_ID in old:
            await self.gridfs.delete(db, [old[GRIDFS_ID]])

    async def clear(self, db: Any) -> None:
        """Delete every chunk document and GridFS file."""
        await db[self.name].delete_many({})
        await self.gridfs.clear(db)

    async def delete_prefix(self, db: Any, prefix: str) -> None:
        """Delete every value whose key starts with ``prefix``, GridFS files too."""
        match = {"_id": prefix_regex(prefix)} if prefix else {}
        collection = db[self.name]
        files = await collection.find({**match, GRIDFS_ID: {"$exists": True}}, {GRIDFS_ID: 1}).to_list()
        await collection.delete_many(match)
        await self.gridfs.delete(db, [f[GRIDFS_ID] for f in files])


async def _bulk_write(collection: Any, keys: list[str], requests: list[Any]) -> tuple[list[str], dict[str, Exception]]:
    """One unordered bulk write of one request per key: the keys refused as duplicates, and the other failures."""
    duplicates: list[str] = []
    failed: dict[str, Exception] = {}
    try:
        await collection.bulk_write(requests, ordered=False)
    except BulkWriteError as error:
        for failure in error.details.get("writeErrors", []):
            key = keys[failure["index"]]
            if failure.get("code") == _DUPLICATE_KEY:
                duplicates.append(key)
            else:
                failed[key] = BulkWriteError({"writeErrors": [failure]})
    return duplicates, failed
