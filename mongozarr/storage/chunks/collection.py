"""Chunk documents: inline bytes, or a pointer to a GridFS file.

Every store key that is not node metadata is one document of
``<prefix>.chunks``::

    {_id: key, node: "raw/img1", size: 1048576, data: BinData}      # inline
    {_id: key, node: "raw/img1", size: 90000000, gridfs_id: ObjectId} # GridFS

GridFS files follow the GridFS specification in bucket ``<prefix>.fs``
(``fs.files`` and ``fs.chunks``), so MongoDB's own tools can read them. The
bucket is written and read here rather than through ``gridfs.AsyncGridFSBucket``
for two reasons: a byte range is then one query for exactly the GridFS chunks
that cover it, and the same code runs on mongomock, which PyMongo's GridFS
refuses without global monkeypatching.

A GridFS file is immutable: an overwrite writes a new file, swaps the
pointer atomically, then deletes the old file. A reader that loses the race
sees a short read and retries from the pointer, so it never returns torn bytes.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError
from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, SuffixByteRequest

from mongozarr.errors import ChunkDataError
from mongozarr.layout import prefix_regex

__all__ = ["GRIDFS_CHUNK_BYTES", "ChunkCollection", "byte_slice"]

#: GridFS chunk size (the GridFS default: 255 KiB keeps each under 256 KiB).
GRIDFS_CHUNK_BYTES = 255 * 1024
_READ_RETRIES = 8
# GridFS chunks per reply batch, to stay under MongoDB's 16 MiB reply size.
_PIECES_PER_REPLY = 60
PieceFetcher = Callable[[tuple[ObjectId, int, int]], Awaitable[list[bytes] | None]]


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
    prefix
        The collection prefix (``<prefix>.chunks``, ``<prefix>.fs.*``).
    inline_threshold
        Values up to this many bytes are stored inline; larger go to GridFS.
    """

    def __init__(self, prefix: str, inline_threshold: int) -> None:
        self.name = f"{prefix}.chunks"
        self.files_name = f"{prefix}.fs.files"
        self.fs_chunks_name = f"{prefix}.fs.chunks"
        self.inline_threshold = inline_threshold

    async def create_indexes(self, db: Any) -> None:
        """Create the indexes chunk access relies on (idempotent)."""
        await db[self.name].create_index("node", name="node_1")
        # The index the GridFS specification requires.
        await db[self.fs_chunks_name].create_index(
            [("files_id", 1), ("n", 1)], unique=True, name="files_id_1_n_1"
        )
        await db[self.files_name].create_index(
            [("filename", 1), ("uploadDate", 1)], name="filename_1_uploadDate_1"
        )

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
        if "gridfs_id" not in doc:
            return bytes(doc["data"][start:stop])
        if start == stop:
            return b""
        span = (doc["gridfs_id"], start // GRIDFS_CHUNK_BYTES, (stop - 1) // GRIDFS_CHUNK_BYTES)
        if fetch_pieces is None:
            pieces = (await self.fetch_pieces(db, {span: None}))[span]
        else:
            pieces = await fetch_pieces(span)
        if pieces is None:
            return None
        blob = b"".join(pieces)
        offset = span[1] * GRIDFS_CHUNK_BYTES
        if len(blob) < stop - offset:
            return None
        return blob[start - offset : stop - offset]

    async def fetch_pieces(
        self, db: Any, spans: dict[tuple[ObjectId, int, int], Any]
    ) -> dict[tuple[ObjectId, int, int], list[bytes] | None]:
        """The GridFS chunks ``first..last`` of each file, all in one query.

        A span whose chunks are not all there (the file was replaced and
        deleted meanwhile) maps to ``None``.
        """
        query = {
            "$or": [{"files_id": fid, "n": {"$gte": first, "$lte": last}} for fid, first, last in spans]
        }
        found: dict[tuple[ObjectId, int], bytes] = {}
        cursor = db[self.fs_chunks_name].find(query, {"files_id": 1, "n": 1, "data": 1}, batch_size=_PIECES_PER_REPLY)
        for piece in await cursor.to_list():
            found[(piece["files_id"], piece["n"])] = bytes(piece["data"])
        result: dict[tuple[ObjectId, int, int], list[bytes] | None] = {}
        for fid, first, last in spans:
            parts = [found.get((fid, n)) for n in range(first, last + 1)]
            result[(fid, first, last)] = None if any(p is None for p in parts) else parts  # type: ignore[misc]
        return result

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

    def find_keys(self, db: Any, query: dict[str, Any]) -> Any:
        """A cursor over the keys (``_id`` only) matching ``query``, in key order."""
        return db[self.name].find(query, {"_id": 1}).sort("_id", 1)

    # ----------------------------------------------------------------- writes

    async def _upload(self, db: Any, key: str, data: bytes) -> ObjectId:
        file_id = ObjectId()
        pieces = [
            {"files_id": file_id, "n": n, "data": data[i : i + GRIDFS_CHUNK_BYTES]}
            for n, i in enumerate(range(0, len(data), GRIDFS_CHUNK_BYTES))
        ]
        if pieces:
            await db[self.fs_chunks_name].insert_many(pieces, ordered=False)
        # The files document last, as the GridFS specification asks.
        await db[self.files_name].insert_one(
            {
                "_id": file_id,
                "length": len(data),
                "chunkSize": GRIDFS_CHUNK_BYTES,
                "uploadDate": datetime.datetime.now(datetime.UTC),
                "filename": key,
            }
        )
        return file_id

    async def delete_gridfs(self, db: Any, file_id: ObjectId) -> None:
        """Delete one GridFS file (files document first, as the spec asks)."""
        await db[self.files_name].delete_one({"_id": file_id})
        await db[self.fs_chunks_name].delete_many({"files_id": file_id})

    async def _document(self, db: Any, key: str, node: str, data: bytes) -> dict[str, Any]:
        doc: dict[str, Any] = {"_id": key, "node": node, "size": len(data)}
        if len(data) > self.inline_threshold:
            doc["gridfs_id"] = await self._upload(db, key, data)
        else:
            doc["data"] = data
        return doc

    async def write(self, db: Any, key: str, node: str, data: bytes) -> None:
        """Store ``data`` at ``key``, replacing what was there."""
        doc = await self._document(db, key, node, data)
        old = await db[self.name].find_one_and_replace(
            {"_id": key},
            doc,
            upsert=True,
            projection={"gridfs_id": 1},
            return_document=ReturnDocument.BEFORE,
        )
        if old is not None and "gridfs_id" in old:
            await self.delete_gridfs(db, old["gridfs_id"])

    async def write_if_absent(self, db: Any, key: str, node: str, data: bytes) -> bool:
        """Store ``data`` at ``key`` only if nothing is there (atomic); True if stored."""
        doc = await self._document(db, key, node, data)
        try:
            await db[self.name].insert_one(doc)
        except DuplicateKeyError:
            if "gridfs_id" in doc:
                await self.delete_gridfs(db, doc["gridfs_id"])
            return False
        return True

    async def delete(self, db: Any, key: str) -> None:
        """Delete the value at ``key`` and its GridFS file; silent if absent."""
        old = await db[self.name].find_one_and_delete({"_id": key}, projection={"gridfs_id": 1})
        if old is not None and "gridfs_id" in old:
            await self.delete_gridfs(db, old["gridfs_id"])

    async def clear(self, db: Any) -> None:
        """Delete every chunk document and GridFS file."""
        for name in (self.name, self.files_name, self.fs_chunks_name):
            await db[name].delete_many({})

    async def delete_prefix(self, db: Any, prefix: str) -> None:
        """Delete every value whose key starts with ``prefix``, GridFS files too."""
        match = {"_id": prefix_regex(prefix)} if prefix else {}
        collection = db[self.name]
        files = await collection.find({**match, "gridfs_id": {"$exists": True}}, {"gridfs_id": 1}).to_list()
        await collection.delete_many(match)
        file_ids = [f["gridfs_id"] for f in files]
        if file_ids:
            await db[self.files_name].delete_many({"_id": {"$in": file_ids}})
            await db[self.fs_chunks_name].delete_many({"files_id": {"$in": file_ids}})
