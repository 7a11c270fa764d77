"""Copy a zarr hierarchy from any store to any other, key by key.

``copy`` goes through the public zarr Store API only (``list``, ``get``,
``set``, ``getsize``), so it moves v2 and v3 hierarchies alike between
MongoDB, directories, zip archives and S3, and between two MongoDB servers.

Order matters for what a reader sees while a copy runs or after it stops
half way: chunks go first, then metadata from the deepest node up to the
root. Until an array's metadata lands, zarr does not see the array at all,
instead of seeing an array whose missing chunks read silently as its fill
value; and a hierarchy whose root metadata exists is complete below it.

A copy resumes: a chunk already at the destination with the size it has at
the source is not copied again, and metadata already equal (as JSON) is not
rewritten. Size is the test because every store answers it cheaply (one
MongoDB query for all chunks, an S3 listing, a ``stat``) and the stores
write each value atomically (LocalStore renames a temporary file, S3 puts
whole objects, MongoDB replaces whole documents), so a value is either
absent, old, or complete; an interrupted copy that was stopped by an
exception still finishes the values in flight and closes the stores it
opened (a zip archive gets its central directory), so it stays resumable.
It cannot detect a destination value of the same size with other bytes:
pass ``resume=False`` to rewrite everything.

Consolidated metadata (the v3 ``consolidated_metadata`` field of a group's
``zarr.json``, the v2 ``.zmetadata`` key) is a snapshot of the hierarchy's
metadata. In MongoDB ("zarr in use") it would go stale at the first write,
and zarr would then prefer the stale copy, so it is stripped on the way
into a :class:`~mongozarr.MongoStore`; :func:`export_archive` recomputes it
for an archive ("zarr at rest").

The async functions are the core; ``copy``, ``export_archive`` and
``import_archive`` run them on zarr's event loop. Progress is reported as
:class:`CopyEvent` objects to a callback: this module prints nothing (the
command line draws the progress bar and the summary).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype
from zarr.errors import ZarrUserWarning
from zarr.storage import MemoryStore

from mongozarr.documents import METADATA_NAMES
from mongozarr.errors import CopyError, NodeNotFoundError
from mongozarr.interruptible import run_interruptible
from mongozarr.layout import in_batches
from mongozarr.storage.store import MongoStore
from mongozarr.storage.urls import OpenMode, open_store

__all__ = [
    "DEFAULT_CONCURRENCY",
    "CopyEvent",
    "CopyReport",
    "Progress",
    "copy",
    "copy_async",
    "export_archive",
    "export_archive_async",
    "import_archive",
    "import_archive_async",
]

_CONSOLIDATED_V2 = ".zmetadata"
DEFAULT_CONCURRENCY = 16
_MONGO_URL_SCHEMES = ("mongodb://", "mongodb+srv://", "mongomock://")

StoreLike = Store | str | Path


@dataclass(frozen=True)
class CopyEvent:
    """One step of a copy, as passed to a ``progress`` callback.

    Attributes
    ----------
    kind
        ``"plan"`` (``total`` is known), ``"copied"`` or ``"skipped"`` (one
        key, already at the destination), ``"verified"`` (the end).
    key
        The key copied or skipped; ``None`` for ``plan`` and ``verified``.
    nbytes
        Bytes of that key (copied or found in place).
    done
        Keys handled so far, copied or skipped.
    total
        Keys the copy handles in all.
    """

    kind: Literal["plan", "copied", "skipped", "verified"]
    key: str | None
    nbytes: int
    done: int
    total: int


@dataclass
class CopyReport:
    """What a copy did.

    Attributes
    ----------
    source, destination
        The two stores, as text.
    keys
        Keys the copy handled (the source's keys less those ``dropped``).
    copied, skipped
        Keys written, and keys found already in place (resume).
    bytes_copied, bytes_total
        Bytes written, and bytes of every key handled.
    dropped
        Source keys not copied (v2 consolidated metadata into MongoDB).
    stripped
        Metadata keys whose ``consolidated_metadata`` field was removed.
    verified
        Whether the destination was checked against the source (key set,
        chunk sizes, metadata as JSON) after the copy.
    seconds
        Wall time.
    """

    source: str
    destination: str
    keys: int = 0
    copied: int = 0
    skipped: int = 0
    bytes_copied: int = 0
    bytes_total: int = 0
    dropped: list[str] = field(default_factory=list)
    stripped: list[str] = field(default_factory=list)
    verified: bool = False
    seconds: float = 0.0


#: Receives a :class:`CopyEvent` per step of a copy; None is silent.
Progress = Callable[[CopyEvent], None] | None


# ------------------------------------------------------------------ public API


def copy(
    src: StoreLike,
    dst: StoreLike,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress = None,
    verify: bool = True,
    allow_empty: bool = False,
    resume: bool = True,
    consolidated: Literal["keep", "strip"] | None = None,
) -> CopyReport:
    """Copy every key of one zarr store into another.

    Parameters
    ----------
    src, dst
        Stores, or URLs for :func:`mongozarr.open_store` (``mongodb://``,
        ``mongomock://``, ``s3://``, ``*.zip``, a directory). ``dst`` is
        opened with mode ``"a"``: what is there stays, keys are overwritten.
    concurrency
        Keys in flight at once.
    progress
        A callable that receives a :class:`CopyEvent` per step; None is silent.
    verify
        Check the destination against the source afterwards and raise
        :class:`~mongozarr.errors.CopyError` on any difference.
    resume
        Skip keys already at the destination with the same size (chunks) or
        the same JSON (metadata).
    allow_empty
        Copy an empty source too; by default an empty source (often a typo in
        a URL or prefix) raises :class:`~mongozarr.errors.NodeNotFoundError`.
    consolidated
        ``"strip"`` drops consolidated metadata, ``"keep"`` copies it as is;
        by default it is stripped into a :class:`~mongozarr.MongoStore` only.

    Returns
    -------
    CopyReport

    See Also
    --------
    copy_async : the same inside a running event loop.
    """
    return run_interruptible(
        copy_async(
            src,
            dst,
            concurrency=concurrency,
            progress=progress,
            verify=verify,
            resume=resume,
            consolidated=consolidated,
            allow_empty=allow_empty,
        )
    )


async def copy_async(
    src: StoreLike,
    dst: StoreLike,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress = None,
    verify: bool = True,
    allow_empty: bool = False,
    resume: bool = True,
    consolidated: Literal["keep", "strip"] | None = None,
) -> CopyReport:
    """Copy every key of one zarr store into another; see :func:`copy`."""
    emit = _sink(progress)
    async with _opened(src, "r") as source, _opened(dst, "a") as destination:
        return await _copy(
            source,
            destination,
            concurrency=concurrency,
            emit=emit,
            verify=verify,
            resume=resume,
            consolidated=consolidated,
            allow_empty=allow_empty,
        )


def export_archive(
    src: StoreLike,
    archive: str | Path,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress = None,
    verify: bool = True,
    allow_empty: bool = False,
) -> CopyReport:
    """Write a hierarchy as a static archive with consolidated metadata ("zarr at rest").

    Parameters
    ----------
    src
        The hierarchy, a store or URL.
    archive
        A ``.zip`` path (or a directory, or any URL :func:`~mongozarr.open_store`
        takes), written afresh.
    concurrency, progress, verify, allow_empty
        As for :func:`copy`.

    Returns
    -------
    CopyReport

    See Also
    --------
    export_archive_async : the same inside a running event loop.
    """
    return run_interruptible(
        export_archive_async(
            src, archive, concurrency=concurrency, progress=progress, verify=verify,
            allow_empty=allow_empty,
        )
    )


async def export_archive_async(
    src: StoreLike,
    archive: str | Path,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress = None,
    verify: bool = True,
    allow_empty: bool = False,
) -> CopyReport:
    """Write a static archive with consolidated metadata; see :func:`export_archive`."""
    emit = _sink(progress)
    async with _opened(src, "r") as source:
        overrides = await _consolidated(source)
        async with _opened(archive, "w") as destination:
            return await _copy(
                source,
                destination,
                concurrency=concurrency,
                emit=emit,
                verify=verify,
                resume=False,
                consolidated="keep",
                allow_empty=allow_empty,
                overrides=overrides,
            )


def import_archive(
    src: StoreLike,
    dst: MongoStore | str,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress = None,
    verify: bool = True,
    allow_empty: bool = False,
    resume: bool = True,
) -> CopyReport:
    """Bring a hierarchy into MongoDB, where its metadata becomes queryable.

    Consolidated metadata is stripped (it would go stale in a store that is
    written to).

    Parameters
    ----------
    src
        The hierarchy, a store or URL (a ``.zip`` archive, a directory, S3...).
    dst
        A :class:`~mongozarr.MongoStore` or a ``mongodb://``/``mongomock://`` URL.
    concurrency, progress, verify, resume, allow_empty
        As for :func:`copy`.

    Returns
    -------
    CopyReport

    See Also
    --------
    import_archive_async : the same inside a running event loop.
    """
    return run_interruptible(
        import_archive_async(
            src, dst, concurrency=concurrency, progress=progress, verify=verify, resume=resume,
            allow_empty=allow_empty,
        )
    )


async def import_archive_async(
    src: StoreLike,
    dst: MongoStore | str,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress = None,
    verify: bool = True,
    allow_empty: bool = False,
    resume: bool = True,
) -> CopyReport:
    """Bring a hierarchy into MongoDB; see :func:`import_archive`."""
    if isinstance(dst, str):
        if not dst.startswith(_MONGO_URL_SCHEMES):
            raise ValueError(f"import needs a MongoDB destination, got {dst!r}")
    elif not isinstance(dst, MongoStore):
        raise TypeError(f"import needs a MongoStore destination, got {type(dst).__name__}")
    return await copy_async(
        src,
        dst,
        concurrency=concurrency,
        progress=progress,
        verify=verify,
        resume=resume,
        consolidated="strip",
        allow_empty=allow_empty,
    )


async def _copy(
    source: Store,
    destination: Store,
    *,
    concurrency: int,
    emit: Callable[[CopyEvent], None],
    verify: bool,
    resume: bool,
    consolidated: Literal["keep", "strip"] | None,
    allow_empty: bool = False,
    overrides: dict[str, bytes] | None = None,
) -> CopyReport:
    """The copy itself, between open stores; ``overrides`` replace source metadata values."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    if consolidated is None:
        consolidated = "strip" if isinstance(destination, MongoStore) else "keep"
    strip = consolidated == "strip"
    copier = _Copier(source, destination, concurrency, emit, strip, overrides)
    return await copier.run(resume=resume, verify=verify, allow_empty=allow_empty)


# ------------------------------------------------------------------ the copier


def _is_metadata(key: str) -> bool:
    name = key.rpartition("/")[2]
    return name in METADATA_NAMES or name == _CONSOLIDATED_V2


def _metadata_order(key: str) -> tuple[int, bool, str]:
    """Deepest nodes first, the root last; v2 ``.zmetadata`` after its group."""
    return (-key.count("/"), key.endswith(_CONSOLIDATED_V2), key)


def _json(data: bytes) -> Any:
    """Parsed JSON for comparison: NaN/Infinity tokens become comparable markers."""
    # float("nan") != float("nan"), and the string "NaN" is another value.
    return json.loads(data, parse_constant=lambda token: ("%constant", token))


class _Copier:
    """One copy run: plan, copy chunks, copy metadata, verify."""

    def __init__(
        self,
        src: Store,
        dst: Store,
        concurrency: int,
        emit: Callable[[CopyEvent], None],
        strip: bool,
        overrides: dict[str, bytes] | None,
    ) -> None:
        self.src = src
        self.dst = dst
        self.concurrency = concurrency
        self.emit = emit
        self.strip = strip
        self.overrides = overrides or {}
        self.report = CopyReport(source=str(src), destination=str(dst))
        self.sizes: dict[str, int] = {}  # chunk key -> size at the source
        self.metadata: dict[str, bytes] = {}  # metadata key -> bytes written
        self.done = 0

    async def run(self, *, resume: bool, verify: bool, allow_empty: bool) -> CopyReport:
        started = time.perf_counter()
        keys = sorted({key async for key in self.src.list()} | set(self.overrides))
        if not keys and not allow_empty:
            # A typo in a URL or prefix reads as an empty store: say so, do not "succeed".
            raise NodeNotFoundError(
                f"{self.src} holds no zarr data: nothing to copy (check the URL and #prefix; "
                "allow_empty=True, or --allow-empty, copies it anyway)"
            )
        chunks = [key for key in keys if not _is_metadata(key)]
        metadata = sorted((key for key in keys if _is_metadata(key)), key=_metadata_order)
        if self.strip:
            self.report.dropped = [key for key in metadata if key.endswith(_CONSOLIDATED_V2)]
            metadata = [key for key in metadata if not key.endswith(_CONSOLIDATED_V2)]
        self.report.keys = len(chunks) + len(metadata)
        self._emit("plan", None, 0)
        present = {key async for key in self.dst.list()} if resume else set()
        todo = await self._chunks_to_copy(chunks, present)
        await self._run_all(todo, self._copy_chunk)
        # Metadata one depth at a time, so no node appears before its children are complete.
        for group in _phases(metadata):
            await self._run_all(group, lambda key: self._copy_metadata(key, present))
        if verify:
            await self._verify(chunks, metadata)
            self.report.verified = True
        self.report.seconds = time.perf_counter() - started
        if verify:
            self._emit("verified", None, 0)
        return self.report

    def _emit(self, kind: Any, key: str | None, nbytes: int) -> None:
        if kind in ("copied", "skipped"):
            self.done += 1
        self.emit(CopyEvent(kind, key, nbytes, self.done, self.report.keys))

    async def _chunks_to_copy(self, chunks: list[str], present: set[str]) -> list[str]:
        """The chunks not yet at the destination with their source size."""
        candidates = [key for key in chunks if key in present]
        if not candidates:
            return chunks
        at_dst = await _sizes(self.dst, candidates, self.concurrency)
        at_src = await _sizes(self.src, candidates, self.concurrency)
        todo = []
        for key in chunks:
            size = at_src.get(key)
            if size is not None and at_dst.get(key) == size:
                self.sizes[key] = size
                self.report.skipped += 1
                self.report.bytes_total += size
                self._emit("skipped", key, size)
            else:
                todo.append(key)
        return todo

    async def _run_all(self, keys: list[str], job: Callable[[str], Awaitable[None]]) -> None:
        """Run ``job`` over ``keys``, ``concurrency`` at a time.

        On a failure no new key starts but those in flight finish, so what
        was done is done and a resumed copy does not redo it.
        """
        pending: Iterator[str] = iter(keys)
        failed = asyncio.Event()

        async def worker() -> None:
            for key in pending:  # one iterator shared by all workers
                if failed.is_set():
                    return
                try:
                    await job(key)
                except BaseException:
                    failed.set()
                    raise

        results = await asyncio.gather(
            *(worker() for _ in range(min(self.concurrency, len(keys)))), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _copy_chunk(self, key: str) -> None:
        value = await self.src.get(key, prototype=default_buffer_prototype())
        if value is None:
            raise CopyError(f"{key!r} vanished from {self.src} during the copy")
        await self.dst.set(key, value)
        size = len(value)
        self.sizes[key] = size
        self.report.copied += 1
        self.report.bytes_copied += size
        self.report.bytes_total += size
        self._emit("copied", key, size)

    async def _copy_metadata(self, key: str, present: set[str]) -> None:
        data = self.overrides.get(key)
        if data is None:
            value = await self.src.get(key, prototype=default_buffer_prototype())
            if value is None:
                raise CopyError(f"{key!r} vanished from {self.src} during the copy")
            data = value.to_bytes()
        if self.strip:
            data = self._stripped(key, data)
        self.metadata[key] = data
        self.report.bytes_total += len(data)
        if key in present:
            existing = await self.dst.get(key, prototype=default_buffer_prototype())
            if existing is not None and _same_json(existing.to_bytes(), data):
                self.report.skipped += 1
                self._emit("skipped", key, len(data))
                return
        await self.dst.set(key, default_buffer_prototype().buffer.from_bytes(data))
        self.report.copied += 1
        self.report.bytes_copied += len(data)
        self._emit("copied", key, len(data))

    def _stripped(self, key: str, data: bytes) -> bytes:
        """``data`` without a v3 ``consolidated_metadata`` field."""
        if not key.endswith("zarr.json"):
            return data
        try:
            document = json.loads(data)
        except ValueError:
            return data  # not JSON: the destination keeps it as raw bytes
        if not isinstance(document, dict) or document.get("consolidated_metadata") is None:
            return data
        del document["consolidated_metadata"]
        self.report.stripped.append(key)
        return json.dumps(document, indent=2).encode()

    async def _verify(self, chunks: list[str], metadata: list[str]) -> None:
        """Raise :class:`CopyError` unless the destination holds what was copied."""
        present = {key async for key in self.dst.list()}
        problems = [f"missing {key!r}" for key in [*chunks, *metadata] if key not in present]
        sizes = await _sizes(self.dst, [key for key in chunks if key in present], self.concurrency)
        problems += [
            f"{key!r} has {sizes.get(key)} bytes, expected {self.sizes[key]}"
            for key in chunks
            if key in present and sizes.get(key) != self.sizes[key]
        ]
        for key in metadata:
            if key not in present:
                continue
            value = await self.dst.get(key, prototype=default_buffer_prototype())
            if value is None or not _same_json(value.to_bytes(), self.metadata[key]):
                problems.append(f"metadata {key!r} differs")
        if problems:
            shown = "; ".join(problems[:10])
            raise CopyError(f"{len(problems)} problems copying {self.src} to {self.dst}: {shown}")


def _phases(keys: list[str]) -> list[list[str]]:
    """Metadata keys in write phases: one per depth, deepest first, v2 ``.zmetadata`` apart."""
    phases: dict[tuple[int, bool], list[str]] = {}
    for key in keys:  # already in _metadata_order
        phases.setdefault(_metadata_order(key)[:2], []).append(key)
    return list(phases.values())


def _same_json(left: bytes, right: bytes) -> bool:
    if left == right:
        return True
    try:
        return bool(_json(left) == _json(right))
    except ValueError:
        return False


# ------------------------------------------------------------------ helpers


def _sink(progress: Progress) -> Callable[[CopyEvent], None]:
    """The callback for copy events: the caller's, or one that drops them."""
    if progress is None or progress is False:
        return lambda event: None
    if not callable(progress):
        raise TypeError(
            "progress must be a callable receiving CopyEvent objects, or None "
            f"(progress bars are drawn by the mongozarr command line), got {progress!r}"
        )
    return progress


@contextlib.asynccontextmanager
async def _opened(store: StoreLike, mode: OpenMode) -> AsyncIterator[Store]:
    """A store for ``store``; one opened here from a URL is closed on exit.

    A zip archive gets its central directory when closed, also when the copy
    stops on an exception, so what was written stays readable and resumable.
    """
    if isinstance(store, Store):
        yield store
        return
    # open_store(url, "w") empties the store through zarr's sync(), which
    # refuses to run inside an event loop: open for writing, then empty it here.
    opened = open_store(store, "a" if mode == "w" else mode)
    try:
        if mode == "w":
            await opened.clear()
        yield opened
    finally:
        if isinstance(opened, MongoStore):
            await opened.close_async()  # its client on this loop too
        else:
            opened.close()


async def _sizes(store: Store, keys: list[str], concurrency: int) -> dict[str, int]:
    """The sizes of those ``keys`` (chunks) that exist in ``store``."""
    if isinstance(store, MongoStore):
        # The chunk collection and its `size` field are the documented schema:
        # one query per batch instead of one per key. (A MongoStore inside a
        # WrapperStore is asked key by key: zarr offers no public way to unwrap.)
        collection = store.database()[store.layout.chunks]
        found: dict[str, int] = {}
        for batch in in_batches(keys):
            docs = await collection.find({"_id": {"$in": list(batch)}}, {"size": 1}).to_list()
            found.update((doc["_id"], int(doc["size"])) for doc in docs)
        return found
    return await _sizes_one_by_one(store, keys, concurrency)


async def _sizes_one_by_one(store: Store, keys: list[str], concurrency: int) -> dict[str, int]:
    limit = asyncio.Semaphore(concurrency)

    async def size(key: str) -> int | None:
        async with limit:
            try:
                return await store.getsize(key)
            except FileNotFoundError:
                return None

    sizes = await asyncio.gather(*(size(key) for key in keys))
    return {key: s for key, s in zip(keys, sizes, strict=True) if s is not None}


async def _consolidated(src: Store) -> dict[str, bytes]:
    """The root metadata of ``src`` with freshly consolidated metadata.

    The metadata keys are copied into memory and consolidated there, so the
    archive receives each key once (a zip archive cannot overwrite).
    Empty if the root is not a group.
    """
    import zarr.api.asynchronous as zarr_async

    memory = MemoryStore()
    keys = [key async for key in src.list() if _is_metadata(key)]
    for key in keys:
        value = await src.get(key, prototype=default_buffer_prototype())
        if value is not None and not key.endswith(_CONSOLIDATED_V2):
            await memory.set(key, value)
    if not await _root_is_group(memory):
        return {}
    with warnings.catch_warnings():
        # Consolidating is the point of an export: no warning that v3 lacks it in its spec.
        warnings.filterwarnings("ignore", "Consolidated metadata", ZarrUserWarning)
        await zarr_async.consolidate_metadata(memory)
    out: dict[str, bytes] = {}
    for key in ("zarr.json", _CONSOLIDATED_V2):
        value = await memory.get(key, prototype=default_buffer_prototype())
        if value is not None:
            out[key] = value.to_bytes()
    return out


async def _root_is_group(store: Store) -> bool:
    if await store.exists(".zgroup"):
        return True
    value = await store.get("zarr.json", prototype=default_buffer_prototype())
    return value is not None and _json(value.to_bytes()).get("node_type") == "group"
