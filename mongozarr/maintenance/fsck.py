"""``fsck``: find (and optionally repair) what a crash or a hand edit left in a store.

A GridFS chunk is written in three steps: upload the file (pieces, then the
files document), swap the chunk document's pointer to it, delete the old
file. A cut connection or a SIGKILL between two steps leaves a file nothing
points to (or pieces without a files document). Such leftovers are never read,
but they hold space; ``fsck`` finds them by reference: a GridFS file is an
orphan when no chunk document points to it and it is older than ``grace``
(its ObjectId carries its creation time), so uploads in flight are left alone.

It also reports what it cannot repair without a human: chunk documents whose
GridFS data or external (S3) object is gone (the bytes are lost; reading them
raises :class:`~mongozarr.errors.ChunkDataError`; ``repair`` leaves their
documents, so the loss stays visible) and node documents zarr cannot read
(see :func:`mongozarr.documents.node_problem`).

Memory is bounded by the reply batch, not the store: the GridFS check is a
merge join of three streams sorted by file id (chunk pointers, files
documents, piece groups), and external objects are looked up a batch at a time.

Why no "pending upload" marker on the chunk document. Recording the new file
id on the chunk document before the upload (so that a pending, unreferenced
file is "in flight" and an unmarked one an orphan at any age) was considered
and not done: (1) it gives fsck no liveness. A writer killed after setting the
marker leaves the same marker as a live, slow one, so a marked file still has
to be judged by its age, against the same ``grace``; the marker only moves the
timestamp fsck reads from the ObjectId to the document. (2) It adds one write
round trip to every GridFS chunk write (DESIGN: at most N/C + 2 round trips)
and, for a new chunk, needs a chunk document before its bytes exist, which
``exists``/``list`` would then report. (3) The one hazard left, a writer that
stays between upload and pointer swap for longer than ``grace`` (a process
stopped for ten minutes), is not closed by a marker either: only a lease with
a heartbeat could. The safety rule therefore stays: ``grace`` must exceed the
longest upload-to-swap time of any live writer; ``grace=0`` is for stores no
one writes to (``tests/faults/test_repair_faults.py`` shows both sides).
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo.errors import ConnectionFailure
from zarr.core.sync import sync

from mongozarr.coordination.links import dangling_links_async
from mongozarr.documents import node_problem
from mongozarr.layout import EXTERNAL, GRIDFS_ID, PENDING_APPENDS, Layout, in_batches
from mongozarr.maintenance.usage import disk_usage_async
from mongozarr.storage.chunks.external import open_chunk_store
from mongozarr.storage.chunks.gridfs import GridFSFiles
from mongozarr.storage.faults import fault

if TYPE_CHECKING:
    from mongozarr.storage.store import MongoStore

__all__ = ["DEFAULT_GRACE", "FsckEvent", "FsckReport", "fsck", "fsck_async"]

# Older than this, an unreferenced GridFS file cannot be an upload in flight.
DEFAULT_GRACE = 600.0
# Ids held at once per stream (one reply batch); ``$in`` lists are shorter (layout.in_batches).
_BATCH = 1000
# Existence requests to the external chunk store in flight at once.
_HEADS_AT_ONCE = 16


@dataclass(frozen=True)
class FsckEvent:
    """One step of a check, as passed to a ``progress`` callback.

    Attributes
    ----------
    stage
        ``"chunks"``, ``"gridfs"``, ``"objects"`` (external chunk store),
        ``"nodes"`` or ``"repair"``.
    done
        Documents examined (or removed, for ``"repair"``) so far in this stage.
    """

    stage: str
    done: int


@dataclass
class FsckReport:
    """What :func:`fsck` found, and what it removed.

    Attributes
    ----------
    orphan_files
        GridFS files no chunk document points to (older than the grace period).
    orphan_bytes
        Their total length.
    orphan_pieces
        ``files_id`` values of GridFS pieces without a files document.
    lost_chunks
        Chunk keys whose GridFS data or external object is gone (not repairable:
        the bytes are lost; ``--repair`` reports them and leaves their documents).
    lost_objects
        ``(key, object)`` for the lost chunks whose object is missing from the
        external chunk store, ``object`` naming where it should be.
    unchecked_objects
        Chunk documents pointing to an external store that could not be
        checked because the store was opened without ``chunks=``.
    malformed_nodes
        ``(path, why)`` for node documents zarr cannot read.
    nodes_without_parent
        Node paths whose parent node document is missing.
    chunks_without_node
        ``(node path, chunk count, bytes)`` for chunk documents whose node is missing.
    stale_appends
        ``(path, record id)`` for append reservations older than ``grace`` never completed.
    expired_leases
        Names of leases past their expiry (harmless: the next taker gets them).
    dangling_links
        ``(source, relation, target)`` of links whose target node is gone
        (``mongozarr.unlink_dangling`` removes them).
    indexes
        Names of the indexes on the node documents.
    repaired
        Whether the orphans were removed.
    """

    orphan_files: list[ObjectId] = field(default_factory=list)
    orphan_bytes: int = 0
    orphan_pieces: list[ObjectId] = field(default_factory=list)
    lost_chunks: list[str] = field(default_factory=list)
    lost_objects: list[tuple[str, str]] = field(default_factory=list)
    unchecked_objects: int = 0
    malformed_nodes: list[tuple[str, str]] = field(default_factory=list)
    nodes_without_parent: list[str] = field(default_factory=list)
    chunks_without_node: list[tuple[str, int, int]] = field(default_factory=list)
    stale_appends: list[tuple[str, str]] = field(default_factory=list)
    expired_leases: list[str] = field(default_factory=list)
    dangling_links: list[tuple[str, str, str]] = field(default_factory=list)
    indexes: list[str] = field(default_factory=list)
    repaired: bool = False

    @property
    def clean(self) -> bool:
        """Whether nothing at all was found."""
        return not (self.orphan_files or self.orphan_pieces or self.lost_chunks or self.malformed_nodes
                    or self.nodes_without_parent or self.chunks_without_node or self.stale_appends)


async def fsck_async(
    store: MongoStore,
    *,
    repair: bool = False,
    grace: float = DEFAULT_GRACE,
    progress: Callable[[FsckEvent], None] | None = None,
) -> FsckReport:
    """Check a store's GridFS files and node documents; see :func:`fsck`."""
    if repair:
        store.check_writable()
    if grace < 0:
        raise ValueError(f"grace must be at least 0 seconds, got {grace}")
    try:
        return await _fsck(store, repair, grace, progress or (lambda event: None))
    except ConnectionFailure as exc:
        raise fault(exc, "fsck", write=False) from exc


async def _fsck(
    store: MongoStore, repair: bool, grace: float, emit: Callable[[FsckEvent], None]
) -> FsckReport:
    report = FsckReport()
    db = store.database()
    layout = store.layout
    cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=grace)

    def settled(file_id: object) -> bool:
        # mongozarr's file ids are ObjectIds, which carry their creation second.
        return not isinstance(file_id, ObjectId) or file_id.generation_time <= cutoff

    references = files = steps = 0
    lost: list[str] = []
    async for file_id, keys, files_doc, has_pieces in _gridfs_join(db, layout):
        references += len(keys)
        files += files_doc is not None
        if keys:
            if files_doc is None:
                lost.extend(keys)
        elif files_doc is not None:
            if settled(file_id):
                report.orphan_files.append(file_id)
                report.orphan_bytes += int(files_doc.get("length") or 0)
        elif has_pieces and settled(file_id):
            report.orphan_pieces.append(file_id)
        steps += 1
        if steps % _BATCH == 0:
            emit(FsckEvent("chunks", references))
            emit(FsckEvent("gridfs", files))
    emit(FsckEvent("chunks", references))
    emit(FsckEvent("gridfs", files))
    lost.extend(await _lost_external(store, report, emit))
    report.lost_chunks = sorted(lost)
    report.lost_objects.sort()

    await _check_nodes(store, report, cutoff, emit)
    expired = {"owner": {"$ne": None}, "expires_at": {"$lte": datetime.datetime.now(datetime.UTC)}}
    report.expired_leases = sorted([str(doc["_id"]) async for doc in db[layout.locks].find(expired, {"_id": 1})])
    report.indexes = sorted((await db[layout.nodes].index_information()).keys())
    report.dangling_links = [(link.source, link.relation, link.target) for link in await dangling_links_async(store)]

    if repair:
        try:
            await _remove_orphans(store, report, emit)
        except ConnectionFailure as exc:
            # Some orphans may be gone and others not: a re-run finishes the job.
            raise fault(exc, "fsck repair", write=True) from exc
    return report


_OBJECT_ID = {"$type": "objectId"}
_NOT_OBJECT_ID = {"$exists": True, "$not": {"$type": "objectId"}}


_END = object()


async def _gridfs_join(
    db: Any, layout: Layout
) -> AsyncIterator[tuple[Any, list[str], dict[str, Any] | None, bool]]:
    """Every GridFS file id anywhere: ``(id, chunk keys pointing to it, files document, has pieces)``.

    A merge join of three streams sorted by file id, so only one reply batch
    of each is in memory at a time: chunk documents by ``gridfs_id``, files
    documents by ``_id`` and piece groups by ``files_id`` (the last two use
    their indexes; ``gridfs_id`` has none, so the server sorts the chunk
    documents that point to GridFS, spilling to disk where it has to). Ids
    that are not ObjectIds (never written by mongozarr) are few and joined in
    memory afterwards.
    """
    chunks, files, pieces = db[layout.chunks], db[layout.fs_files], db[layout.fs_chunks]

    def group(match: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"$match": {"files_id": match}}, {"$group": {"_id": "$files_id"}}, {"$sort": {"_id": 1}}]

    pointers = aiter(chunks.find({GRIDFS_ID: _OBJECT_ID}, {GRIDFS_ID: 1}, batch_size=_BATCH).sort(GRIDFS_ID, 1))
    documents = aiter(files.find({"_id": _OBJECT_ID}, {"_id": 1, "length": 1}, batch_size=_BATCH).sort("_id", 1))
    groups = aiter(await pieces.aggregate(group(_OBJECT_ID), batchSize=_BATCH))
    pointer = await anext(pointers, _END)
    document = await anext(documents, _END)
    piece = await anext(groups, _END)
    while pointer is not _END or document is not _END or piece is not _END:
        current = min(
            head for head in (
                pointer[GRIDFS_ID] if pointer is not _END else _END,
                document["_id"] if document is not _END else _END,
                piece["_id"] if piece is not _END else _END,
            ) if head is not _END
        )
        keys: list[str] = []
        while pointer is not _END and pointer[GRIDFS_ID] == current:
            keys.append(pointer["_id"])
            pointer = await anext(pointers, _END)
        found = None
        if document is not _END and document["_id"] == current:
            found = document
            document = await anext(documents, _END)
        has_pieces = piece is not _END and piece["_id"] == current
        if has_pieces:
            piece = await anext(groups, _END)
        yield current, keys, found, has_pieces
    # Hand-made ids of other types: joined in memory.
    odd_keys: dict[Any, list[str]] = {}
    async for doc in chunks.find({GRIDFS_ID: _NOT_OBJECT_ID}, {GRIDFS_ID: 1}):
        odd_keys.setdefault(_hashable(doc[GRIDFS_ID]), []).append(doc["_id"])
    odd_files = {_hashable(doc["_id"]): doc async for doc in files.find({"_id": _NOT_OBJECT_ID}, {"_id": 1, "length": 1})}
    cursor = await pieces.aggregate(group(_NOT_OBJECT_ID))
    odd_pieces = {_hashable(doc["_id"]) async for doc in cursor}
    for odd in {*odd_keys, *odd_files, *odd_pieces}:
        yield odd, odd_keys.get(odd, []), odd_files.get(odd), odd in odd_pieces


def _hashable(value: Any) -> Any:
    return value if isinstance(value, Hashable) else repr(value)


async def _lost_external(store: MongoStore, report: FsckReport, emit: Callable[[FsckEvent], None]) -> list[str]:
    """Keys of chunk documents whose object is missing from the external chunk store.

    Chunk documents that point to an object (``external: true``) are streamed
    in batches of ``_BATCH``; each batch's objects are looked up in the chunk
    store with at most ``_HEADS_AT_ONCE`` requests in flight.
    """
    if store.chunks is None:
        report.unchecked_objects = await store.database()[store.layout.chunks].count_documents({EXTERNAL: True})
        return []
    objects = open_chunk_store(store.chunks, read_only=True)
    where = str(store.chunks).rstrip("/")
    limit = asyncio.Semaphore(_HEADS_AT_ONCE)

    async def missing(key: str) -> bool:
        async with limit:
            return not await objects.exists(key)

    lost: list[str] = []
    checked = 0

    async def check(batch: list[str]) -> None:
        for key, gone in zip(batch, await asyncio.gather(*(missing(key) for key in batch)), strict=True):
            if gone:
                lost.append(key)
                report.lost_objects.append((key, f"{where}/{key}"))

    batch: list[str] = []
    async for doc in store.database()[store.layout.chunks].find({EXTERNAL: True}, {"_id": 1}, batch_size=_BATCH):
        batch.append(doc["_id"])
        if len(batch) == _BATCH:
            await check(batch)
            checked += len(batch)
            emit(FsckEvent("objects", checked))
            batch = []
    await check(batch)
    emit(FsckEvent("objects", checked + len(batch)))
    return lost


async def _check_nodes(
    store: MongoStore, report: FsckReport, cutoff: datetime.datetime, emit: Callable[[FsckEvent], None]
) -> None:
    """Malformed nodes, missing parents, stale appends; then chunks whose node is missing."""
    db = store.database()
    paths: set[str] = set()
    parents: dict[str, str] = {}
    async for doc in db[store.layout.nodes].find({}):
        path = str(doc.get("_id"))
        paths.add(path)
        problem = node_problem(doc)
        if problem is not None:
            report.malformed_nodes.append((path, problem))
        elif doc.get("parent") is not None:
            parents[path] = doc["parent"]
        for record in doc.get(PENDING_APPENDS) or []:
            reserved = record.get("reserved_at")
            if isinstance(reserved, datetime.datetime) and reserved.replace(tzinfo=datetime.UTC) <= cutoff:
                report.stale_appends.append((path, str(record.get("id"))))
        if len(paths) % 1000 == 0:
            emit(FsckEvent("nodes", len(paths)))
    emit(FsckEvent("nodes", len(paths)))
    # The root's document may be absent in a prefix written without one.
    report.nodes_without_parent = sorted(p for p, parent in parents.items() if parent and parent not in paths)
    for usage in await disk_usage_async(store):
        if usage.path not in paths:
            report.chunks_without_node.append((usage.path, usage.chunks, usage.stored_bytes))


async def _remove_orphans(store: MongoStore, report: FsckReport, emit: Callable[[FsckEvent], None]) -> None:
    db = store.database()
    # Checked again just before removal: a pointer swap may have claimed one since the scan.
    orphans: list[ObjectId] = []
    for batch in in_batches(report.orphan_files):
        claimed = {doc[GRIDFS_ID] async for doc in db[store.layout.chunks].find(
            {GRIDFS_ID: {"$in": batch}}, {GRIDFS_ID: 1})}
        orphans.extend(file_id for file_id in batch if file_id not in claimed)
    # The bucket's own delete: files documents first, as the GridFS specification asks.
    for batch in in_batches([*orphans, *report.orphan_pieces]):
        await GridFSFiles(store.layout).delete(db, list(batch))
    emit(FsckEvent("repair", len(orphans) + len(report.orphan_pieces)))
    report.repaired = True


def fsck(
    store: MongoStore,
    *,
    repair: bool = False,
    grace: float = DEFAULT_GRACE,
    progress: Callable[[FsckEvent], None] | None = None,
) -> FsckReport:
    """Find GridFS orphans, lost chunks and unreadable node documents; remove orphans if asked.

    Parameters
    ----------
    store
        The store to check (its prefix only).
    repair
        Remove orphan GridFS files and pieces (needs a writable store). Lost
        chunks and malformed nodes are reported, never changed.
    grace
        Seconds: younger unreferenced GridFS files may be uploads in flight and
        are left alone.
    progress
        Called with an :class:`FsckEvent` as the check goes.

    Returns
    -------
    FsckReport
    """
    return sync(fsck_async(store, repair=repair, grace=grace, progress=progress))
