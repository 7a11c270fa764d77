"""GridFS files of large chunks: upload, ranged reads, deletion.

Files follow the GridFS specification in bucket ``<prefix>.fs``
(``fs.files`` and ``fs.chunks``), so MongoDB's own tools can read them. The
bucket is written and read here rather than through ``gridfs.AsyncGridFSBucket``
for two reasons: a byte range is then one query for exactly the GridFS chunks
that cover it, and the same code runs on mongomock, which PyMongo's GridFS
refuses without global monkeypatching.

A file is immutable once written: an overwrite of a chunk uploads a new
file and deletes the old one after the pointer swap
(:class:`~mongozarr.storage.chunks.collection.ChunkCollection`).
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from bson import ObjectId

from mongozarr.layout import Layout

__all__ = ["GRIDFS_CHUNK_BYTES", "GridFSFiles", "PieceFetcher", "Span"]

#: GridFS chunk size (the GridFS default: 255 KiB keeps each under 256 KiB).
GRIDFS_CHUNK_BYTES = 255 * 1024
# GridFS chunks per reply batch, to stay under MongoDB's 16 MiB reply size.
_PIECES_PER_REPLY = 60

#: GridFS chunks ``first..last`` of one file: ``(file id, first, last)``.
Span = tuple[ObjectId, int, int]
#: Serves the pieces of one span (``None`` if the file is gone); the store passes a coalescer.
PieceFetcher = Callable[[Span], Awaitable[list[bytes] | None]]


class GridFSFiles:
    """The GridFS bucket of one collection prefix.

    Parameters
    ----------
    layout
        The collection names (``layout.fs_files``, ``layout.fs_chunks``).
    """

    def __init__(self, layout: Layout) -> None:
        self.files_name = layout.fs_files
        self.chunks_name = layout.fs_chunks

    @staticmethod
    def span(file_id: ObjectId, start: int, stop: int) -> Span:
        """The GridFS chunks that hold bytes ``start:stop`` (``stop > start``) of a file."""
        return (file_id, start // GRIDFS_CHUNK_BYTES, (stop - 1) // GRIDFS_CHUNK_BYTES)

    @staticmethod
    def cut(pieces: list[bytes], span: Span, start: int, stop: int) -> bytes | None:
        """Bytes ``start:stop`` of a file from the pieces of ``span``; None if they fall short."""
        blob = b"".join(pieces)
        offset = span[1] * GRIDFS_CHUNK_BYTES
        if len(blob) < stop - offset:
            return None
        return blob[start - offset : stop - offset]

    async def fetch_pieces(self, db: Any, spans: Iterable[Span]) -> dict[Span, list[bytes] | None]:
        """The GridFS chunks of each span, all in one query.

        A span whose chunks are not all there (the file was replaced and
        deleted meanwhile) maps to ``None``.
        """
        spans = list(spans)
        query = {
            "$or": [{"files_id": fid, "n": {"$gte": first, "$lte": last}} for fid, first, last in spans]
        }
        found: dict[tuple[ObjectId, int], bytes] = {}
        cursor = db[self.chunks_name].find(query, {"files_id": 1, "n": 1, "data": 1}, batch_size=_PIECES_PER_REPLY)
        for piece in await cursor.to_list():
            found[(piece["files_id"], piece["n"])] = bytes(piece["data"])
        result: dict[Span, list[bytes] | None] = {}
        for fid, first, last in spans:
            parts = [found.get((fid, n)) for n in range(first, last + 1)]
            result[(fid, first, last)] = None if any(p is None for p in parts) else parts  # type: ignore[misc]
        return result

    async def upload(self, db: Any, filename: str, data: bytes) -> ObjectId:
        """Write a new file holding ``data``; its id."""
        return (await self.upload_many(db, {filename: data}))[filename]

    async def upload_many(self, db: Any, files: dict[str, bytes]) -> dict[str, ObjectId]:
        """Write a new file per ``filename -> data``, all pieces in one insert; their ids.

        PyMongo splits the insert at MongoDB's 48 MB message limit; each
        piece stays under 16 MiB. The files documents go last, together, as
        the GridFS specification asks.
        """
        ids = {filename: ObjectId() for filename in files}
        pieces = [
            {"files_id": ids[filename], "n": n, "data": data[i : i + GRIDFS_CHUNK_BYTES]}
            for filename, data in files.items()
            for n, i in enumerate(range(0, len(data), GRIDFS_CHUNK_BYTES))
        ]
        if pieces:
            await db[self.chunks_name].insert_many(pieces, ordered=False)
        now = datetime.datetime.now(datetime.UTC)
        await db[self.files_name].insert_many(
            [
                {"_id": ids[filename], "length": len(data), "chunkSize": GRIDFS_CHUNK_BYTES,
                 "uploadDate": now, "filename": filename}
                for filename, data in files.items()
            ],
            ordered=False,
        )
        return ids

    async def delete(self, db: Any, file_ids: list[ObjectId]) -> None:
        """Delete files (files documents first, as the spec asks)."""
        if not file_ids:
            return
        await db[self.files_name].delete_many({"_id": {"$in": file_ids}})
        await db[self.chunks_name].delete_many({"files_id": {"$in": file_ids}})

    async def clear(self, db: Any) -> None:
        """Delete every file of the bucket."""
        await db[self.files_name].delete_many({})
        await db[self.chunks_name].delete_many({})
