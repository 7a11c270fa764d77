"""``fsck``: find (and optionally repair) what a crash or a hand edit left in a store.

A GridFS chunk is written in three steps: upload the file (pieces, then the
files document), swap the chunk document's pointer to it, delete the old
file. A cut connection or a SIGKILL between two steps leaves a file nothing
points to (or pieces without a files document). Such leftovers are never read,
but they hold space; ``fsck`` finds them by reference: a GridFS file is an
orphan when no chunk document points to it and it is older than ``grace``
(its ObjectId carries its creation time), so uploads in flight are left alone.

It also reports what it cannot repair without a human: chunk documents whose
GridFS data is gone (the bytes are lost; reading them raises
:class:`~mongozarr.errors.ChunkDataError`) and node documents zarr cannot read
(see :func:`mongozarr.documents.node_problem`).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bson import ObjectId
from zarr.core.sync import sync

from mongozarr.coordination.links import dangling_links_async
from mongozarr.documents import node_problem
from mongozarr.layout import GRIDFS_ID, PENDING_APPENDS
from mongozarr.maintenance.usage import disk_usage_async
from mongozarr.storage.chunks.gridfs import GridFSFiles

if TYPE_CHECKING:
    from mongozarr.storage.store import MongoStore

__all__ = ["DEFAULT_GRACE", "FsckEvent", "FsckReport", "fsck", "fsck_async"]

# Older than this, an unreferenced GridFS file cannot be an upload in flight.
DEFAULT_GRACE = 600.0


@dataclass(frozen=True)
class FsckEvent:
    """One step of a check, as passed to a ``progress`` callback.

    Attributes
    ----------
    stage
        ``"chunks"``, ``"gridfs"``, ``"nodes"`` or ``"repair"``.
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
        Chunk keys whose GridFS data is gone (not repairable: the bytes are lost).
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
    report = FsckReport()
    db = store.database()
    layout = store.layout
    emit = progress or (lambda event: None)
    cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=grace)

    def settled(file_id: object) -> bool:
        # mongozarr's file ids are ObjectIds, which carry their creation second.
        return not isinstance(file_id, ObjectId) or file_id.generation_time <= cutoff

    referenced: dict[ObjectId, str] = {}
    async for doc in db[layout.chunks].find({GRIDFS_ID: {"$exists": True}}, {GRIDFS_ID: 1}):
        referenced[doc[GRIDFS_ID]] = doc["_id"]
        if len(referenced) % 1000 == 0:
            emit(FsckEvent("chunks", len(referenced)))
    emit(FsckEvent("chunks", len(referenced)))

    files: set[ObjectId] = set()
    async for doc in db[layout.fs_files].find({}, {"_id": 1, "length": 1}):
        files.add(doc["_id"])
        if doc["_id"] not in referenced and settled(doc["_id"]):
            report.orphan_files.append(doc["_id"])
            report.orphan_bytes += int(doc.get("length") or 0)
    emit(FsckEvent("gridfs", len(files)))
    for files_id in await db[layout.fs_chunks].distinct("files_id"):
        if files_id not in files and files_id not in referenced and settled(files_id):
            report.orphan_pieces.append(files_id)
    report.lost_chunks = sorted(key for file_id, key in referenced.items() if file_id not in files)

    await _check_nodes(store, report, cutoff, emit)
    expired = {"owner": {"$ne": None}, "expires_at": {"$lte": datetime.datetime.now(datetime.UTC)}}
    report.expired_leases = sorted([str(doc["_id"]) async for doc in db[layout.locks].find(expired, {"_id": 1})])
    report.indexes = sorted((await db[layout.nodes].index_information()).keys())
    report.dangling_links = [(link.source, link.relation, link.target) for link in await dangling_links_async(store)]

    if repair:
        await _remove_orphans(store, report, emit)
    return report


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
    claimed = {doc[GRIDFS_ID] async for doc in db[store.layout.chunks].find(
        {GRIDFS_ID: {"$in": report.orphan_files}}, {GRIDFS_ID: 1})}
    orphans = [file_id for file_id in report.orphan_files if file_id not in claimed]
    # The bucket's own delete: files documents first, as the GridFS specification asks.
    await GridFSFiles(store.layout).delete(db, [*orphans, *report.orphan_pieces])
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
