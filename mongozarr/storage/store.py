"""MongoStore: a zarr-python 3 store whose nodes are MongoDB documents."""

from __future__ import annotations

import asyncio
import copy
import datetime
import json
import warnings
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pymongo import ReplaceOne, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError
from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, default_buffer_prototype
from zarr.core.sync import sync

from mongozarr.documents import (
    bump_version,
    check_document,
    consolidated_entries,
    decode_value,
    encode_value,
    escape_key,
    is_consolidated,
    metadata_content,
    metadata_names,
    parse_metadata,
    path_fields,
    raw_metadata,
    render_metadata,
)
from mongozarr.errors import AmbiguousWriteWarning, ConflictError
from mongozarr.layout import Layout, guess_node, key_of, metadata_key, prefix_regex
from mongozarr.storage.batching import Coalescer
from mongozarr.storage.chunks.collection import ChunkCollection, byte_slice
from mongozarr.storage.chunks.external import ExternalChunks, open_chunk_store
from mongozarr.storage.connection import Capabilities, Connection
from mongozarr.storage.views import DELETE, SHAPE, Content, Plan, Views

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Iterable

    from zarr.core.buffer import BufferPrototype

__all__ = ["DEFAULT_INLINE_THRESHOLD", "MongoStore"]

#: Chunks up to this size are stored inside their chunk document.
DEFAULT_INLINE_THRESHOLD = 4 * 1024 * 1024
# The largest inline value that still fits a 16 MiB document with its fields.
_MAX_INLINE_THRESHOLD = 16 * 1024 * 1024 - 16 * 1024
_SCAN_BATCH = 1000
# Replies are cut at 16 MiB by MongoDB; size batches to fit one.
_REPLY_BYTES = 16 * 1024 * 1024
_MAX_KEYS_PER_QUERY = 1000
_DUPLICATE_KEY = 11000
# Enough of a node document to tell which metadata keys it holds (the
# attributes themselves are fetched separately where needed, see _node_keys).
_NAMES_PROJECTION = {"zarr_format": 1, "node_type": 1, "consolidated": 1, "raw": 1}
# Indexes are created once per (process, database, prefix).
_INDEXED: set[tuple[Any, ...]] = set()
# The metadata key zarr reads to build an object of each (format, node type).
_PRIMARY_NAME = {(3, "group"): "zarr.json", (3, "array"): "zarr.json", (2, "group"): ".zgroup", (2, "array"): ".zarray"}
# The parts of a node's content each metadata key carries.
_PARTS = {
    "zarr.json": ("metadata", "attributes"),
    ".zarray": ("metadata",),
    ".zgroup": ("metadata",),
    ".zattrs": ("attributes",),
}


@dataclass
class _Batches:
    """The request coalescers of one event loop."""

    node_reads: Coalescer[str]
    chunk_reads: Coalescer[str]
    chunk_writes: Coalescer[str]
    gridfs_reads: Coalescer[tuple[Any, int, int]]


@dataclass(frozen=True)
class _Read:
    """One read of node metadata that hands a view out: which store asked, for which key."""

    views: Views
    name: str


class _Handout:
    """A node document read in one batch, with the objects it builds per store.

    ``tokens`` counts, per store's views, the objects zarr builds from this
    read; each consolidated read of a group takes one to record the members'
    views once per group object.
    """

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.tokens: dict[int, int] = {}

    def take(self, views: Views) -> bool:
        left = self.tokens.get(id(views), 0)
        if left <= 0:
            return False
        self.tokens[id(views)] = left - 1
        return True


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")[:-1] if path else []
    return [""] + ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _holders(doc: dict[str, Any], names: list[str]) -> int:
    """How many zarr objects the reads of ``names`` in one batch build from ``doc``.

    zarr builds one per read of the node's own key (``zarr.json``, ``.zarray``
    or ``.zgroup``). ``zarr.open`` first tries the other node type: a v3
    group asked for ``.zarray`` (a v3 array for ``.zgroup``) in the same
    batch is that probe, which builds nothing.
    """
    fmt, node_type = doc.get("zarr_format"), doc.get("node_type")
    count = names.count(_PRIMARY_NAME.get((fmt, node_type), ""))
    if fmt == 3:
        count -= names.count(".zarray" if node_type == "group" else ".zgroup")
    return max(count, 0)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class MongoStore(Store):
    """A zarr store keeping each group and array as one MongoDB document.

    Node metadata (``zarr.json``, ``.zarray``, ``.zgroup``, ``.zattrs``) lives
    in ``<prefix>.nodes``, one document per node, with the user attributes
    as a queryable sub-document. Every other key is a chunk document in
    ``<prefix>.chunks``, inline or in the GridFS bucket ``<prefix>.fs``.

    Parameters
    ----------
    target
        ``mongodb://host/dbname``, ``mongodb+srv://...``, ``mongomock://name``
        (in-process, the embedded default), or a PyMongo / mongomock client.
    database
        Database name; defaults to the URI's path, else ``"zarr"``.
    prefix
        Collection name prefix.
    read_only
        Whether writes are refused.
    inline_threshold
        Chunks up to this many bytes are stored inline; larger ones in GridFS.
        Default: 4 MiB, or 0 with ``chunks`` (every non-empty chunk goes there).
    chunks
        A zarr store, or a URL for :func:`mongozarr.open_store` (``s3://bucket/path``),
        holding chunk bytes above ``inline_threshold`` under their keys instead of
        GridFS; MongoDB keeps the chunk index (see ``mongozarr.storage.chunks.external``).
    consolidated
        If True, every group's metadata is served with consolidated metadata
        built live from its subtree, so opening and walking any hierarchy
        takes two queries (groups consolidated with
        ``zarr.consolidate_metadata`` are served that way regardless).
    compare_and_set
        If True, a metadata write succeeds only over the node version the
        writing object read, and raises :class:`~mongozarr.ConflictError`
        otherwise, instead of merging with what other writers changed.

    Notes
    -----
    zarr rewrites a node's whole ``zarr.json`` from the copy its ``Group`` or
    ``Array`` object holds; the store sends only what that object changed
    (``$set``/``$unset`` of attribute keys and metadata fields, one
    ``findAndModify``), so other writers' keys, counters, pushed values,
    links and appended rows survive, however many zarr objects, threads and
    :class:`~mongozarr.Tree` calls share this store. To know what an object
    changed, the store keeps per node the versions zarr objects may hold and
    reads a write as coming from the closest one (:mod:`mongozarr.storage.views`).
    A resize is compare-and-set against the shape that version holds. A
    write it cannot attribute for certain makes only the changes every
    reading agrees on and reports the rest with
    :class:`~mongozarr.AmbiguousWriteWarning`; an unattributable resize
    raises :class:`~mongozarr.ConflictError` and writes nothing.
    """

    supports_writes: bool = True
    supports_deletes: bool = True
    supports_listing: bool = True
    # Store sync methods exist for callers, but zarr's codec pipeline would use
    # them one chunk at a time; its async path lets requests overlap.
    _supports_sync_io: bool = False

    def __init__(
        self,
        target: Any,
        *,
        database: str | None = None,
        prefix: str = "zarr",
        read_only: bool = False,
        inline_threshold: int | None = None,
        compare_and_set: bool = False,
        consolidated: bool = False,
        chunks: Any = None,
    ) -> None:
        super().__init__(read_only=read_only)
        if inline_threshold is None:
            inline_threshold = DEFAULT_INLINE_THRESHOLD if chunks is None else 0
        if not prefix or "$" in prefix or "\0" in prefix:
            raise ValueError(f"invalid collection prefix {prefix!r}")
        if not 0 <= inline_threshold <= _MAX_INLINE_THRESHOLD:
            raise ValueError(
                f"inline_threshold must be between 0 and {_MAX_INLINE_THRESHOLD} bytes, got {inline_threshold}"
            )
        self._connection = target if isinstance(target, Connection) else Connection(target, database)
        self.prefix = prefix
        self.inline_threshold = inline_threshold
        self.compare_and_set = compare_and_set
        self.consolidated = consolidated
        self.chunks = chunks
        self._chunks = (
            ChunkCollection(prefix, inline_threshold)
            if chunks is None
            else ExternalChunks(prefix, inline_threshold, open_chunk_store(chunks, read_only))
        )
        self._layout = Layout(prefix)
        self._nodes_name = self._layout.nodes
        # What zarr objects of this store hold of each node: the merge bases.
        self._views = Views()
        self._arrays: set[str] = set()
        # Node paths this store last read as absent: a write there is a creation.
        self._absent: set[str] = set()
        self._loop_batches: dict[int, tuple[weakref.ref[asyncio.AbstractEventLoop], _Batches]] = {}
        # The largest inline chunk seen: bounds how many chunks one reply carries.
        self._size_hint = max(inline_threshold, 1)
        self._size_hint_known = False

    # ---------------------------------------------------------- configuration

    def with_read_only(self, read_only: bool = False) -> MongoStore:
        # docstring inherited
        return type(self)(
            self._connection,
            prefix=self.prefix,
            read_only=read_only,
            inline_threshold=self.inline_threshold,
            compare_and_set=self.compare_and_set,
            consolidated=self.consolidated,
            chunks=self.chunks,
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, MongoStore)
            and self._connection.identity() == other._connection.identity()
            and self.prefix == other.prefix
            and self.read_only == other.read_only
        )

    def __hash__(self) -> int:
        return hash((self._connection.identity(), self.prefix, self.read_only))

    def __str__(self) -> str:
        return f"{self._connection.describe()}#{self.prefix}"

    def __repr__(self) -> str:
        return f"MongoStore('{self}', read_only={self.read_only})"

    def __getstate__(self) -> dict[str, Any]:
        return {
            "connection": self._connection,
            "prefix": self.prefix,
            "read_only": self.read_only,
            "inline_threshold": self.inline_threshold,
            "compare_and_set": self.compare_and_set,
            "consolidated": self.consolidated,
            "chunks": self.chunks,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["connection"],
            prefix=state["prefix"],
            read_only=state["read_only"],
            inline_threshold=state["inline_threshold"],
            compare_and_set=state["compare_and_set"],
            consolidated=state["consolidated"],
            chunks=state.get("chunks"),
        )

    def sibling(self) -> MongoStore:
        """Another store on the same data with the same options, for other zarr objects.

        It shares this store's connections and request batching, and keeps its
        own record of the node versions its zarr objects hold (their merge
        bases), so objects built through it (as :class:`~mongozarr.Tree` does)
        never stand in for objects built through this one. It compares equal
        to this store.
        """
        other = copy.copy(self)
        other._views = Views()
        other._absent = set(self._absent)
        return other

    @property
    def connection(self) -> Connection:
        """Where this store's documents live."""
        return self._connection

    def database(self) -> Any:
        """The async database handle for the running event loop."""
        return self._connection.database()

    async def capabilities(self) -> Capabilities:
        """What the server behind this store can do (asked once per connection)."""
        return await self._connection.capabilities()

    @property
    def nodes_collection_name(self) -> str:
        """The name of the collection of node documents."""
        return self._nodes_name

    @property
    def layout(self) -> Layout:
        """The collection names and indexes of this store's prefix."""
        return self._layout

    def nodes(self) -> Any:
        """The node collection, for the running event loop."""
        return self._connection.database()[self._nodes_name]

    def check_writable(self) -> None:
        """Raise ``ValueError`` if this store is read-only; call before any write through it."""
        self._check_writable()

    def _batches(self) -> _Batches:
        """The request coalescers of the running event loop."""
        loop = asyncio.get_running_loop()
        entry = self._loop_batches.get(id(loop))
        if entry is None or entry[0]() is not loop:
            for key, (ref, _) in list(self._loop_batches.items()):
                if ref() is None or ref().is_closed():  # type: ignore[union-attr]
                    del self._loop_batches[key]
            entry = (weakref.ref(loop), _Batches(
                node_reads=Coalescer(self._fetch_nodes, lambda: _MAX_KEYS_PER_QUERY),
                chunk_reads=Coalescer(self._fetch_chunks, self._chunks_per_reply),
                chunk_writes=Coalescer(self._write_chunks, self._chunks_per_reply),
                gridfs_reads=Coalescer(
                    lambda spans: self._chunks.fetch_pieces(self.database(), spans), lambda: _MAX_KEYS_PER_QUERY
                ),
            ))
            self._loop_batches[id(loop)] = entry
        return entry[1]

    def _chunks_per_reply(self) -> int:
        return max(1, min(_MAX_KEYS_PER_QUERY, _REPLY_BYTES // self._size_hint))

    async def _fetch_nodes(self, requests: dict[str, list[_Read | None]]) -> dict[str, _Handout]:
        """Read the node documents of one batch, and record the views zarr builds objects from."""
        docs = await self._nodes().find({"_id": {"$in": list(requests)}}).to_list()
        found = {doc["_id"]: _Handout(doc) for doc in docs}
        # zarr reads a node it is about to create together with all its
        # ancestors, to check that none is an array: those reads build no object.
        checked = {ancestor for path in requests if path not in found for ancestor in _ancestors(path)}
        for path, handout in found.items():
            if path in checked:
                continue
            reads: dict[int, tuple[Views, list[str]]] = {}
            for read in requests[path]:
                if read is not None:
                    reads.setdefault(id(read.views), (read.views, []))[1].append(read.name)
            for views, names in reads.values():
                holders = _holders(handout.doc, names)
                content = _content_of(handout.doc) if holders else None
                if content is not None:
                    views.served(path, content, handout.doc.get("version"), holders)
                    handout.tokens[id(views)] = holders
        return found

    async def _fetch_chunks(self, keys: dict[str, None]) -> dict[str, Any]:
        collection = self.database()[self._chunks.name]
        cursor = collection.find({"_id": {"$in": list(keys)}}, batch_size=self._chunks_per_reply())
        docs = await cursor.to_list()
        inline = [doc["size"] for doc in docs if "data" in doc]
        if inline:
            self._learn_size(max(inline))
        return {doc["_id"]: doc for doc in docs}

    def _learn_size(self, size: int) -> None:
        # Until a real size is seen the hint is the inline threshold (safe);
        # then it follows the largest chunk seen.
        if not self._size_hint_known:
            self._size_hint, self._size_hint_known = max(size, 1), True
        else:
            self._size_hint = max(self._size_hint, size)

    async def _write_chunks(self, requests: dict[str, list[tuple[str, bytes]]]) -> dict[str, Any]:
        # One key written twice in one turn: the later value wins, as if written after.
        items = {key: payloads[-1] for key, payloads in requests.items()}
        db = self.database()
        keys = list(items)
        # Only documents without a GridFS file (or external object) are replaced
        # in bulk; one that has a file fails the filter, hits the duplicate _id,
        # and is written singly so that its old file is deleted.
        requests = [
            ReplaceOne(
                {"_id": key, "gridfs_id": {"$exists": False}, "external": {"$exists": False}},
                {"_id": key, "node": node, "size": len(data), "data": data},
                upsert=True,
            )
            for key, (node, data) in items.items()
        ]
        results: dict[str, Any] = {}
        try:
            await db[self._chunks.name].bulk_write(requests, ordered=False)
        except BulkWriteError as error:
            for failure in error.details.get("writeErrors", []):
                key = keys[failure["index"]]
                if failure.get("code") != _DUPLICATE_KEY:
                    results[key] = BulkWriteError({"writeErrors": [failure]})
                    continue
                node, data = items[key]
                try:
                    await self._chunks.write(db, key, node, data)
                except PyMongoError as single_error:
                    results[key] = single_error
        return results

    def _nodes(self) -> Any:
        return self.database()[self._nodes_name]

    async def _ensure_indexes(self, db: Any) -> None:
        token = (self._connection.identity(), self.prefix)
        if token in _INDEXED:
            return
        await db[self._nodes_name].create_index("parent", name="parent_1")
        await self._chunks.create_indexes(db)
        _INDEXED.add(token)

    # ------------------------------------------------------------------ reads

    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        # docstring inherited
        prototype = prototype or default_buffer_prototype()
        db = self.database()
        meta = metadata_key(key)
        if meta is None:
            data = await self._read_chunk(db, key, byte_range)
        else:
            data = await self._read_metadata(db, *meta, hand_out=True)
            if data is not None:
                start, stop = byte_slice(len(data), byte_range)
                data = data[start:stop]
        return None if data is None else prototype.buffer.from_bytes(data)

    async def _read_chunk(self, db: Any, key: str, byte_range: ByteRequest | None) -> bytes | None:
        batches = self._batches()
        doc = await batches.chunk_reads.submit(key)
        if doc is None:
            return None
        data = await self._chunks.read_document(db, doc, byte_range, batches.gridfs_reads.submit)
        if data is None:
            # Its GridFS file was replaced while we read: follow the new pointer.
            data = await self._chunks.read(db, key, byte_range)
        return data

    async def _read_metadata(self, db: Any, path: str, name: str, *, hand_out: bool = False) -> bytes | None:
        """The bytes of metadata ``name`` of node ``path``.

        ``hand_out``: a zarr object is built from them (``get``, not ``getsize``),
        so the node's content becomes a view that object holds.
        """
        handout = await self._batches().node_reads.submit(path, _Read(self._views, name) if hand_out else None)
        if handout is None:
            self._absent.add(path)
            return None
        doc = handout.doc
        self._absent.discard(path)
        self._learn(doc)
        raw = raw_metadata(doc, name)
        if raw is not None:
            return raw
        content = metadata_content(doc, name)
        is_group = doc.get("node_type") == "group"
        if content is None and name == ".zmetadata" and self.consolidated and is_group and doc["zarr_format"] == 2:
            content = {"zarr_consolidated_format": 1, "metadata": {}}
        if content is None:
            return None
        if name == ".zmetadata" or (
            name == "zarr.json" and is_group and (self.consolidated or is_consolidated(doc))
        ):
            # Consolidated metadata is never stored: it is built from the live
            # documents of the subtree, so it cannot go stale.
            descendants = await self._subtree(db, path)
            if hand_out and handout.take(self._views):
                # zarr builds the members from these entries without reading
                # them, every member object of one group sharing its entry.
                for descendant in descendants:
                    self.note_view(descendant)
            entries = consolidated_entries(path, descendants, doc["zarr_format"])
            if name == ".zmetadata":
                own = {n: metadata_content(doc, n) for n in metadata_names(doc) if n != ".zmetadata"}
                content["metadata"] = {**own, **entries}
            else:
                marker = content.get("consolidated_metadata") or {"kind": "inline", "must_understand": False}
                content["consolidated_metadata"] = {**marker, "metadata": entries}
        return json.dumps(content, allow_nan=True).encode()

    async def _subtree(self, db: Any, path: str) -> list[dict[str, Any]]:
        """Every node document below ``path``, in one query."""
        query = {"_id": prefix_regex(path + "/")} if path else {"_id": {"$ne": ""}}
        return await db[self._nodes_name].find(query).to_list()

    def note_view(self, document: dict[str, Any]) -> None:
        """Record that a zarr object was built from this node document.

        Its content then counts as a view that object may hold, a candidate
        merge base for the object's later writes (see :mod:`mongozarr.storage.views`).
        Call it when building zarr objects from documents read another way
        (as :class:`~mongozarr.Tree` does); zarr's own reads record themselves.
        """
        content = _content_of(document)
        if content is not None:
            self._views.served(document["_id"], content, document.get("version"), 1)

    def _learn(self, doc: dict[str, Any]) -> None:
        """Learn from a node document read: whether it is an array, how big its chunks are."""
        metadata = doc.get("metadata")
        if doc.get("node_type") == "array":
            self._arrays.add(doc["_id"])
            estimate = _chunk_bytes(doc["zarr_format"], metadata or {})
            if estimate is not None:
                # Stored chunks are at most about their uncompressed size.
                self._learn_size(min(estimate, self.inline_threshold) if self.inline_threshold else estimate)
        else:
            self._arrays.discard(doc["_id"])

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, ByteRequest | None]],
    ) -> list[Buffer | None]:
        # docstring inherited
        return list(
            await asyncio.gather(*(self.get(key, prototype, byte_range) for key, byte_range in key_ranges))
        )

    async def _get_many(
        self, requests: Iterable[tuple[str, BufferPrototype, ByteRequest | None]]
    ) -> AsyncGenerator[tuple[str, Buffer | None], None]:
        # docstring inherited
        requests = list(requests)
        results = await asyncio.gather(*(self.get(*request) for request in requests))
        for request, result in zip(requests, results, strict=True):
            yield request[0], result

    async def exists(self, key: str) -> bool:
        # docstring inherited
        db = self.database()
        meta = metadata_key(key)
        if meta is not None:
            path, name = meta
            doc = await db[self._nodes_name].find_one({"_id": path}, {**_NAMES_PROJECTION, "attributes": 1})
            return doc is not None and name in metadata_names(doc)
        return await db[self._chunks.name].find_one({"_id": key}, {"_id": 1}) is not None

    async def getsize(self, key: str) -> int:
        # docstring inherited
        db = self.database()
        meta = metadata_key(key)
        if meta is not None:
            data = await self._read_metadata(db, *meta)
            if data is None:
                raise FileNotFoundError(key)
            return len(data)
        size = await self._chunks.size(db, key)
        if size is None:
            raise FileNotFoundError(key)
        return size

    async def getsize_prefix(self, prefix: str) -> int:
        # docstring inherited
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        db = self.database()
        total = await self._chunks.total_size(db, prefix)
        async for doc in db[self._nodes_name].find(self._node_prefix_query(prefix)):
            for name in metadata_names(doc):
                if key_of(doc["_id"], name).startswith(prefix):
                    total += len(render_metadata(doc, name) or b"")
        return total

    # ----------------------------------------------------------------- writes

    async def set(self, key: str, value: Buffer) -> None:
        # docstring inherited
        self._check_writable()
        if not isinstance(value, Buffer):
            raise TypeError(
                f"MongoStore.set(): `value` must be a Buffer instance, got {type(value).__name__}"
            )
        data = value.to_bytes()
        db = self.database()
        await self._ensure_indexes(db)
        meta = metadata_key(key)
        if meta is None:
            node = guess_node(key, self._arrays)
            if len(data) > self.inline_threshold:
                await self._chunks.write(db, key, node, data)
            else:
                self._learn_size(len(data))
                await self._batches().chunk_writes.submit(key, (node, data))
            return
        path, name = meta
        content = parse_metadata(name, data)
        if content is not None and await self._write_metadata(db, path, name, content):
            return
        # Not zarr metadata this node can hold: keep the bytes, faithfully.
        await self._drop_metadata(db, path, name)
        await self._write_raw_metadata(db, path, name, data)

    async def _write_raw_metadata(self, db: Any, path: str, name: str, data: bytes) -> None:
        """Keep bytes at a metadata key as they are, in the node document."""
        field = f"raw.{escape_key(name)}"
        check_document({"_id": path, "raw": {escape_key(name): data}}, f"node {path!r}")
        await db[self._nodes_name].update_one(
            {"_id": path},
            {
                "$set": {field: data},
                **bump_version(),
                "$setOnInsert": {**path_fields(path), "node_type": None, "zarr_format": None},
            },
            upsert=True,
        )

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        # docstring inherited
        self._check_writable()
        data = value.to_bytes()
        db = self.database()
        await self._ensure_indexes(db)
        meta = metadata_key(key)
        if meta is None:
            await self._chunks.write_if_absent(db, key, guess_node(key, self._arrays), data)
            return
        path, name = meta
        if name in ("zarr.json", ".zgroup", ".zarray") and any(
            node_type and (name == "zarr.json") == (fmt == 3) for fmt, node_type in self._views.kinds(path)
        ):
            # This store has just read the node there (zarr re-asserts every
            # parent group on each create): nothing to write, no round trip.
            return
        if await self.exists(key):
            return
        content = parse_metadata(name, data)
        if content is None or not await self._insert_metadata(db, path, name, content):
            await self._write_raw_metadata(db, path, name, data)

    async def _write_metadata(self, db: Any, path: str, name: str, content: dict[str, Any]) -> bool:
        """Merge metadata into the node document; False if the node has another format."""
        if name == ".zmetadata":
            return await self._mark_consolidated(db, path)
        fmt, node_type, metadata, attributes = _split_content(name, content)
        full = _checked_document(path, fmt, node_type, metadata, attributes)
        written = Content(fmt, node_type, metadata, attributes)
        plan = self._views.plan(path, written, _PARTS[name])
        _report_withheld(path, plan)
        if self.compare_and_set:
            version = await self._write_expecting(db, path, name, full, plan)
        else:
            version = await self._write_merging(db, path, name, full, plan)
            if version is None:
                return False
        if name == ".zattrs" and not attributes:
            # An empty .zattrs must exist even where the document had none.
            await db[self._nodes_name].update_one(
                {"_id": path, "zarr_format": 2, "attributes": {"$exists": False}},
                {"$set": {"attributes": {}}},
            )
        self._views.wrote(path, plan, _held_after(written, name, plan.base), version)
        self._absent.discard(path)
        if node_type == "array":
            self._arrays.add(path)
        elif node_type == "group":
            self._arrays.discard(path)
        return True

    async def _write_merging(
        self, db: Any, path: str, name: str, full: dict[str, Any], plan: Plan
    ) -> int | None:
        """Send only what the writer changed; the new version, None if another format holds the node."""
        nodes = db[self._nodes_name]
        fmt = full["zarr_format"]
        query: dict[str, Any] = {"_id": path, "zarr_format": fmt}
        if fmt == 3:
            query["node_type"] = full["node_type"]
        if plan.base is not None:
            if not plan.changes:
                return plan.base.version  # a repeat of what the writer saw: nothing to send
            # A resize is compare-and-set against the shape the writer read:
            # an Array object cached before another writer appended must not
            # shrink the array back (mongozarr.append).
            guard = _shape_guard(plan)
            try:
                doc = await nodes.find_one_and_update(
                    {**query, **guard},
                    _merge_update(path, name, full, plan.changes),
                    projection={"version": 1},
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                return await self._replace_node(nodes, path, name, full)
            if doc is not None:
                return int(doc["version"])
            if guard:
                try:
                    await _check_shape(nodes, query, path, [encode_value(shape) for shape in plan.resize_from])
                except ConflictError:
                    if plan.otherwise is None:
                        raise
                    return plan.otherwise.version  # the other reading: a repeat, nothing to write
            # The document the writer read is gone: write it whole.
        changes = _blind_changes(full, name)
        shape = _blind_shape(full)
        if shape is not None and path not in self._absent:
            await _check_shape(nodes, query, path, [shape])
        try:
            doc = await nodes.find_one_and_update(
                query,
                _merge_update(path, name, full, changes),
                upsert=True,
                projection={"version": 1},
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return await self._replace_node(nodes, path, name, full)
        return int(doc["version"])

    async def _replace_node(self, nodes: Any, path: str, name: str, full: dict[str, Any]) -> int | None:
        """Another kind of node holds ``path``: replace it if it has our format or only raw bytes.

        Returns the new version, or None when a node of the other zarr format
        is there (the caller then keeps the bytes raw).
        """
        existing = await nodes.find_one({"_id": path}, {"zarr_format": 1, "raw": 1})
        if existing is None:
            await nodes.insert_one(full)
            return 1
        if existing.get("zarr_format") not in (full["zarr_format"], None):
            return None
        raw = {k: v for k, v in (existing.get("raw") or {}).items() if k != escape_key(name)}
        result = await nodes.replace_one(
            {"_id": path, "zarr_format": existing.get("zarr_format")}, {**full, **({"raw": raw} if raw else {})}
        )
        return 1 if result.matched_count else None

    async def _write_expecting(
        self, db: Any, path: str, name: str, full: dict[str, Any], plan: Plan
    ) -> int:
        """Compare-and-set: write only over the version the writer read."""
        nodes = db[self._nodes_name]
        base = plan.base
        if base is None or base.version is None:
            try:
                await nodes.insert_one(full)
            except DuplicateKeyError:
                raise ConflictError(
                    f"node {path!r} already exists and this store has not read it; "
                    "read it first, or write without compare_and_set"
                ) from None
            return 1
        if not plan.certain:
            raise ConflictError(
                f"node {path!r}: this write could come from more than one version this store "
                "handed out, so it cannot be compared with one; re-open the node and retry"
            )
        doc = await nodes.find_one_and_update(
            {"_id": path, "version": base.version},
            _merge_update(path, name, full, plan.changes),
            projection={"version": 1},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            current = await nodes.find_one({"_id": path}, {"version": 1})
            now = "deleted" if current is None else f"at version {current['version']}"
            raise ConflictError(
                f"node {path!r} changed since this store read version {base.version} (now {now})"
            )
        return int(doc["version"])

    async def _mark_consolidated(self, db: Any, path: str) -> bool:
        """Record that a v2 group is consolidated; its .zmetadata is then served live."""
        try:
            await db[self._nodes_name].update_one(
                {"_id": path, "zarr_format": 2},
                {
                    "$set": {"consolidated": True},
                    **bump_version(),
                    "$setOnInsert": {**path_fields(path), "node_type": None},
                },
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    async def _insert_metadata(self, db: Any, path: str, name: str, content: dict[str, Any]) -> bool:
        """Create the metadata only if absent (atomic); False if a raw value must hold it."""
        if name == ".zmetadata":
            return await self._mark_consolidated(db, path)
        fmt, node_type, metadata, attributes = _split_content(name, content)
        full = _checked_document(path, fmt, node_type, metadata, attributes)
        try:
            await db[self._nodes_name].insert_one(full)
        except DuplicateKeyError:
            if fmt == 3:
                return True
            # v2: the node may exist with only some of its keys.
            missing = {"attributes": {"$exists": False}} if name == ".zattrs" else {"node_type": None}
            values = {"attributes": full["attributes"]} if name == ".zattrs" else {
                "node_type": node_type, "metadata": full["metadata"]}
            await db[self._nodes_name].update_one(
                {"_id": path, "zarr_format": 2, **missing},
                {"$set": values, **bump_version()},
            )
        return True

    async def _drop_metadata(self, db: Any, path: str, name: str) -> None:
        """Remove metadata ``name`` (structured or raw) from the node document at ``path``."""
        nodes = db[self._nodes_name]
        self._views.forget(path)
        self._arrays.discard(path)
        raw_field = f"raw.{escape_key(name)}"
        if name == "zarr.json":
            query: dict[str, Any] = {"_id": path, "zarr_format": 3}
            update: dict[str, Any] = {
                "$set": {"node_type": None, "zarr_format": None},
                "$unset": {"metadata": "", "attributes": "", raw_field: ""},
            }
        elif name == ".zattrs":
            query = {"_id": path, "zarr_format": 2}
            update = {"$unset": {"attributes": "", raw_field: ""}}
        elif name == ".zmetadata":
            query = {"_id": path, "zarr_format": 2}
            update = {"$unset": {"consolidated": "", raw_field: ""}}
        else:
            node_type = "array" if name == ".zarray" else "group"
            query = {"_id": path, "zarr_format": 2, "node_type": node_type}
            update = {"$set": {"node_type": None}, "$unset": {"metadata": "", raw_field: ""}}
        update.update(bump_version())
        matched = (await nodes.update_one(query, update)).matched_count
        if not matched:
            # Only raw bytes, if anything, at this name.
            matched = (
                await nodes.update_one({"_id": path, raw_field: {"$exists": True}}, {"$unset": {raw_field: ""}})
            ).matched_count
        if matched:
            # A document left holding no metadata at all is removed.
            await nodes.delete_one(
                {
                    "_id": path,
                    "node_type": None,
                    "attributes": {"$exists": False},
                    "consolidated": {"$exists": False},
                    "$or": [{"raw": {"$exists": False}}, {"raw": {}}],
                }
            )

    async def delete(self, key: str) -> None:
        # docstring inherited
        self._check_writable()
        db = self.database()
        meta = metadata_key(key)
        if meta is None:
            await self._chunks.delete(db, key)
        else:
            await self._drop_metadata(db, *meta)

    async def delete_dir(self, prefix: str) -> None:
        # docstring inherited
        self._check_writable()
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        db = self.database()
        await db[self._nodes_name].delete_many(self._node_prefix_query(prefix, own_node_only=True))
        await self._chunks.delete_prefix(db, prefix)
        self._views.forget_prefix(prefix)
        self._arrays = {p for p in self._arrays if prefix and not key_of(p, "").startswith(prefix)}

    async def clear(self) -> None:
        # docstring inherited
        self._check_writable()
        db = self.database()
        await db[self._nodes_name].delete_many({})
        await self._chunks.clear(db)
        self._views.forget_prefix("")
        self._arrays.clear()

    # ---------------------------------------------------------------- listing

    def _node_prefix_query(self, prefix: str, own_node_only: bool = False) -> dict[str, Any]:
        """Node documents that may hold a key starting with ``prefix``.

        ``prefix`` ends in ``/`` or is empty. The node at ``a/b`` holds keys
        ``a/b/zarr.json`` etc., so ``a/b/`` matches that node and all below.
        """
        if not prefix:
            return {}
        return {"$or": [{"_id": prefix_regex(prefix)}, {"_id": prefix[:-1]}]}

    async def list(self) -> AsyncIterator[str]:
        # docstring inherited
        async for key in self.list_prefix(""):
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        # docstring inherited
        db = self.database()
        directory = prefix.rpartition("/")[0]
        node_query: dict[str, Any] = {}
        if prefix:
            node_query = {"$or": [{"_id": prefix_regex(prefix)}, {"_id": directory}]}
        emitted: set[str] = set()
        async for key in self._node_keys(db, node_query):
            if key.startswith(prefix):
                emitted.add(key)
                yield key
        chunk_query = {"_id": prefix_regex(prefix)} if prefix else {}
        async for doc in self._chunks.find_keys(db, chunk_query):
            if doc["_id"] not in emitted:
                yield doc["_id"]

    async def _names_of(self, nodes: Any, query: dict[str, Any]) -> list[tuple[str, list[str]]]:
        """(path, metadata key names) of the node documents matching ``query``.

        Attributes are not fetched (they can be large); whether a v2 node has
        ``.zattrs`` is asked separately, and only when there are v2 nodes.
        """
        docs = await nodes.find(query, _NAMES_PROJECTION).to_list()
        v2_ids = [d["_id"] for d in docs if d["zarr_format"] == 2]
        if v2_ids:
            with_attributes = {
                d["_id"]
                for d in await nodes.find(
                    {"_id": {"$in": v2_ids}, "attributes": {"$exists": True}}, {"_id": 1}
                ).to_list()
            }
            for doc in docs:
                if doc["_id"] in with_attributes:
                    doc["attributes"] = {}
        return [(doc["_id"], metadata_names(doc)) for doc in docs]

    async def _node_keys(self, db: Any, query: dict[str, Any]) -> AsyncIterator[str]:
        for path, names in await self._names_of(db[self._nodes_name], query):
            for name in names:
                yield key_of(path, name)

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        # docstring inherited
        db = self.database()
        nodes, chunks = db[self._nodes_name], db[self._chunks.name]
        prefix = prefix.rstrip("/")
        base = f"{prefix}/" if prefix else ""
        depth = prefix.count("/") + 1 if prefix else 0
        below = prefix_regex(base) if base else {"$exists": True}
        names = [name for _, own in await self._names_of(nodes, {"_id": prefix}) for name in own]
        # Each query below is answered from an index, whatever the directory holds:
        # child nodes by parent; directories of deeper nodes whose intermediate
        # nodes have no document; the arrays below by the chunks' node field.
        paths = [d["_id"] for d in await nodes.find({"parent": prefix}, {"_id": 1}).to_list()]
        paths += await nodes.distinct("parent", {"_id": below, "depth": {"$gt": depth + 1}})
        paths += await chunks.distinct("node", {"node": below} if base else {"node": {"$ne": ""}})
        names.extend(path[len(base) :].split("/")[0] for path in paths if path and path.startswith(base))
        # Chunk keys of no node below (the array's own "c/", v2 keys, raw keys).
        loose = {"node": {"$not": below}} if base else {"node": ""}
        async for child in _scan_children(chunks, base, loose):
            names.append(child)
        for name in dict.fromkeys(names):
            yield name

    # ------------------------------------------------------------- sync API

    def get_sync(
        self,
        key: str,
        *,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        """Synchronous :meth:`get` (runs on zarr's event loop thread)."""
        return sync(self.get(key, prototype, byte_range))

    def set_sync(self, key: str, value: Buffer) -> None:
        """Synchronous :meth:`set` (runs on zarr's event loop thread)."""
        sync(self.set(key, value))

    def delete_sync(self, key: str) -> None:
        """Synchronous :meth:`delete` (runs on zarr's event loop thread)."""
        sync(self.delete(key))


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


def _report_withheld(path: str, plan: Plan) -> None:
    """Warn about the changes of an ambiguous write that were not made."""
    if not plan.withheld:
        return
    withheld = ", ".join(f"{part} {'(whole)' if key is None else repr(key)}" for part, key in plan.withheld)
    message = (
        f"node {path!r}: this metadata write could come from more than one version "
        f"that zarr objects of this store hold, and they disagree on: {withheld}. "
        "Those changes were not made, so no other writer's change is undone; the "
        "rest was merged. Repeat them through an object opened on store.sibling(), "
        "or with mongozarr.Tree"
    )
    warnings.warn(AmbiguousWriteWarning(message, path, tuple(plan.withheld)), stacklevel=4)


def _shape_guard(plan: Plan) -> dict[str, Any]:
    """The filter that makes a resize compare-and-set against the shapes the writer may have read."""
    if SHAPE not in plan.changes:
        return {}
    shapes = [encode_value(shape) for shape in plan.resize_from]
    if len(shapes) == 1:
        return {"metadata.shape": shapes[0]}
    # Whole-array equality per shape ($in with array values is not portable).
    return {"$or": [{"metadata.shape": shape} for shape in shapes]}


def _blind_shape(full: dict[str, Any]) -> list[Any] | None:
    """The shape a write from an object this store knows nothing about assumes is stored."""
    if full.get("node_type") != "array":
        return None
    return (full.get("metadata") or {}).get("shape")


def _blind_changes(full: dict[str, Any], name: str) -> dict[tuple[str, str | None], Any]:
    """A write with no known base: its metadata whole, its attributes key by key, nothing removed."""
    changes: dict[tuple[str, str | None], Any] = {}
    if name != ".zattrs" and "metadata" in full:
        changes[("metadata", None)] = decode_value(full["metadata"])
    if name in ("zarr.json", ".zattrs"):
        for key, value in decode_value(full.get("attributes") or {}).items():
            changes[("attributes", key)] = value
    return changes


async def _check_shape(nodes: Any, query: dict[str, Any], path: str, shapes: list[Any]) -> None:
    """Raise ConflictError if the array at ``path`` is stored with none of ``shapes`` (those the writer may have read)."""
    doc = await nodes.find_one({**query, "node_type": "array"}, {"metadata.shape": 1})
    stored = None if doc is None else (doc.get("metadata") or {}).get("shape")
    if doc is not None and stored not in shapes:
        read = " or ".join(str(tuple(shape)) for shape in shapes)
        raise ConflictError(
            f"array {path!r} now has shape {tuple(stored or ())}, not {read} as this "
            "writer read it (another writer appended or resized it): re-open the array and retry"
        )


def _chunk_bytes(zarr_format: int, metadata: dict[str, Any]) -> int | None:
    """The uncompressed size of one stored chunk (or shard) of an array, if known."""
    try:
        if zarr_format == 3:
            shape = metadata["chunk_grid"]["configuration"]["chunk_shape"]
            data_type = metadata["data_type"]
            dtype = np.dtype(data_type if isinstance(data_type, str) else data_type["name"])
        else:
            shape, dtype = metadata["chunks"], np.dtype(decode_value(metadata["dtype"]))
    except (KeyError, TypeError, ValueError):
        return None
    return int(np.prod(shape, dtype=np.int64)) * max(dtype.itemsize, 1)


def _split_content(
    name: str, content: dict[str, Any]
) -> tuple[int, str | None, dict[str, Any] | None, dict[str, Any] | None]:
    """(format, node_type, metadata, attributes) of one metadata object."""
    if name == "zarr.json":
        metadata = {k: v for k, v in content.items() if k not in ("zarr_format", "node_type", "attributes")}
        consolidated = metadata.get("consolidated_metadata")
        if isinstance(consolidated, dict):
            # Keep only the request to consolidate; the entries are served live.
            metadata["consolidated_metadata"] = {k: v for k, v in consolidated.items() if k != "metadata"}
        return 3, content["node_type"], metadata, content.get("attributes")
    if name == ".zattrs":
        return 2, None, None, content
    metadata = {k: v for k, v in content.items() if k != "zarr_format"}
    return 2, "array" if name == ".zarray" else "group", metadata, None


def _full_document(
    path: str,
    fmt: int,
    node_type: str | None,
    metadata: dict[str, Any] | None,
    attributes: dict[str, Any] | None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {"_id": path, **path_fields(path), "node_type": node_type, "zarr_format": fmt}
    if metadata is not None:
        doc["metadata"] = encode_value(metadata)
    if attributes is not None:
        doc["attributes"] = encode_value(attributes)
    doc["version"] = 1
    doc["updated_at"] = _now()
    return doc


def _checked_document(
    path: str,
    fmt: int,
    node_type: str | None,
    metadata: dict[str, Any] | None,
    attributes: dict[str, Any] | None,
) -> dict[str, Any]:
    """The whole node document, checked against MongoDB's limits before any write."""
    full = _full_document(path, fmt, node_type, metadata, attributes)
    check_document(full, f"node {path!r}")
    return full


def _merge_update(
    path: str, name: str, full: dict[str, Any], changes: dict[tuple[str, str | None], Any]
) -> dict[str, Any]:
    """The update that applies ``changes`` to the node document at ``path``."""
    sets: dict[str, Any] = {}
    unsets: dict[str, str] = {}
    on_insert: dict[str, Any] = path_fields(path)
    if name == ".zattrs":
        on_insert["node_type"] = None
    else:
        sets["node_type"] = full["node_type"]
    for (part, key), value in changes.items():
        if part == "node_type":
            continue  # set above, with every metadata write
        field = part if key is None else f"{part}.{escape_key(key)}"
        if value is DELETE:
            unsets[field] = ""
        else:
            sets[field] = encode_value(value, part if key is None else key)
    if name in ("zarr.json", ".zattrs") and "attributes" in full and not any(
        part == "attributes" for part, _ in changes
    ):
        on_insert["attributes"] = {}
    update: dict[str, Any] = bump_version()
    if sets:
        update["$set"] = sets
    if unsets:
        update["$unset"] = unsets
    update["$setOnInsert"] = on_insert
    return update


def _content_of(document: dict[str, Any]) -> Content | None:
    """A node document's content as a view, or None if it holds no zarr node."""
    fmt, node_type = document.get("zarr_format"), document.get("node_type")
    if fmt not in (2, 3) or (fmt == 3 and node_type is None):
        return None
    metadata, attributes = document.get("metadata"), document.get("attributes")
    return Content(
        fmt,
        node_type,
        None if metadata is None else decode_value(metadata),
        None if attributes is None else decode_value(attributes),
    )


def _held_after(written: Content, name: str, base: Any) -> Content:
    """What the writer holds after writing ``written`` (v2 writes carry one part)."""
    if name == ".zattrs":
        kept = None if base is None else base.content
        node_type = kept.node_type if kept is not None else None
        return Content(2, node_type, kept.metadata if kept is not None else None, written.attributes)
    if name in (".zarray", ".zgroup"):
        kept_attributes = None if base is None else base.content.attributes
        return Content(2, written.node_type, written.metadata, kept_attributes)
    return written
