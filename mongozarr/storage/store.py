"""MongoStore: a zarr-python 3 store whose nodes are MongoDB documents.

This module is the zarr Store interface and the store's configuration; the
work is done by one helper per concern: node reads
(:mod:`~mongozarr.storage.node_reads`), metadata writes
(:mod:`~mongozarr.storage.metadata_writes`), listing
(:mod:`~mongozarr.storage.listing`), chunk documents
(:mod:`~mongozarr.storage.chunks`) and request batching
(:mod:`~mongozarr.storage.batching`).

How a plain zarr write is merged:
zarr rewrites a node's whole ``zarr.json`` from the copy its ``Group`` or
``Array`` object holds; the store sends only what that object changed
(``$set``/``$unset`` of attribute keys and metadata fields, one
``findAndModify``), so other writers' keys, counters, pushed values,
links and appended rows survive, however many zarr objects, threads and
:class:`~mongozarr.Tree` calls share this store. To know what an object
changed, the store keeps per node the versions zarr objects may hold and
reads a write as coming from the closest one (:mod:`mongozarr.storage.views`).
A node the store read as absent is inserted whole instead, with the other
creations in flight (:mod:`~mongozarr.storage.node_inserts`); one that
someone created meanwhile is merged into.
A resize is compare-and-set against the shape that version holds. A
write it cannot attribute for certain makes only the changes every
reading agrees on and reports the rest with
:class:`~mongozarr.AmbiguousWriteWarning`; an unattributable resize
raises :class:`~mongozarr.ConflictError` and writes nothing.

Connection failures (:mod:`~mongozarr.storage.faults`): a read that fails
raises :class:`~mongozarr.ServerUnavailableError` (nothing changed); a write
cut off raises :class:`~mongozarr.WriteOutcomeUnknownError` (it may have been
applied: read back before repeating a non-idempotent change).
"""

from __future__ import annotations

import asyncio
import copy
from typing import TYPE_CHECKING, Any

from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, default_buffer_prototype

from mongozarr.documents import parse_metadata
from mongozarr.layout import Layout, check_key, check_prefix, guess_node, metadata_key
from mongozarr.storage.chunks.collection import ChunkCollection, byte_slice
from mongozarr.storage.chunks.external import ExternalChunks, open_chunk_store
from mongozarr.storage.connection import Capabilities, Connection
from mongozarr.storage.faults import reading
from mongozarr.storage.indexes import ensure_indexes
from mongozarr.storage.listing import Listing
from mongozarr.storage.metadata_writes import MetadataWrites
from mongozarr.storage.node_reads import NodeReads
from mongozarr.storage.state import StoreState
from mongozarr.storage.store_batches import StoreBatches
from mongozarr.storage.store_identity import StoreIdentity
from mongozarr.storage.sync_methods import SyncMethods
from mongozarr.storage.walk_snapshots import walk_clock, writing

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Iterable
    from contextlib import AbstractContextManager

    from zarr.core.buffer import BufferPrototype

__all__ = ["DEFAULT_INLINE_THRESHOLD", "MongoStore"]

#: Chunks up to this size are stored inside their chunk document.
DEFAULT_INLINE_THRESHOLD = 4 * 1024 * 1024
# The largest inline value that still fits a 16 MiB document with its fields.
_MAX_INLINE_THRESHOLD = 16 * 1024 * 1024 - 16 * 1024


def _check_options(prefix: str, inline_threshold: int) -> None:
    check_prefix(prefix)
    if not 0 <= inline_threshold <= _MAX_INLINE_THRESHOLD:
        raise ValueError(
            f"inline_threshold must be between 0 and {_MAX_INLINE_THRESHOLD} bytes, got {inline_threshold}"
        )


def _check_write(store: MongoStore, key: str) -> None:
    """Refuse a write through a read-only store (zarr's error), then a key that names no safe place."""
    store.check_writable()
    check_key(key)


class MongoStore(StoreIdentity, SyncMethods, Store):
    """A zarr store keeping each group and array as one MongoDB document.

    Node metadata (``zarr.json``, ``.zarray``, ``.zgroup``, ``.zattrs``) lives
    in ``<prefix>.nodes``, one document per node, with the user attributes
    as a queryable sub-document. Every other key is a chunk document in
    ``<prefix>.chunks``, inline or in the GridFS bucket ``<prefix>.fs``.

    Parameters
    ----------
    target
        ``mongodb://host/dbname``, ``mongodb+srv://...``, ``mongomock://name``
        (in-process, the embedded default), or a synchronous PyMongo
        ``MongoClient`` / Motor / mongomock client, used as given (each call in
        a worker thread; such a store cannot be pickled).
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
        A zarr store or an S3, zip or directory URL that holds chunk bytes above
        ``inline_threshold`` instead of GridFS; MongoDB keeps the chunk index.
    consolidated
        If True, every group's metadata is served with consolidated metadata
        built live from its subtree, so opening and walking any hierarchy
        takes two queries (groups consolidated with
        ``zarr.consolidate_metadata`` are served that way regardless).
    compare_and_set
        If True, a metadata write succeeds only over the node version the
        writing object read, and raises :class:`~mongozarr.ConflictError`
        otherwise, instead of merging with what other writers changed.
    client_options
        Keyword arguments for the ``pymongo.AsyncMongoClient(uri, ...)`` the store
        opens per event loop, e.g. ``{"tls": True}`` (with a URI only).

    Notes
    -----
    Plain zarr metadata writes are merged key by key, so other writers'
    changes survive; connection failures raise
    :class:`~mongozarr.ServerUnavailableError` or
    :class:`~mongozarr.WriteOutcomeUnknownError` (see the module docstring).
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
        prefix: str | None = None,
        read_only: bool = False,
        inline_threshold: int | None = None,
        compare_and_set: bool = False,
        consolidated: bool = False,
        chunks: Any = None,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(read_only=read_only)
        if isinstance(target, str) and "#" in target:
            # mongodb://host/db#prefix, the form __str__ prints and the CLI takes.
            target, _, suffix = target.partition("#")
            if prefix is not None and prefix != suffix:
                raise ValueError(f"prefix {prefix!r} contradicts the URI's #{suffix}")
            prefix = suffix
        prefix = "zarr" if prefix is None else prefix
        if inline_threshold is None:
            inline_threshold = DEFAULT_INLINE_THRESHOLD if chunks is None else 0
        _check_options(prefix, inline_threshold)
        if isinstance(target, Connection):
            if client_options:
                raise ValueError("client_options belong to the Connection given as target")
            self._connection = target
        else:
            self._connection = Connection(target, database, client_options)
        self.prefix = prefix
        self.inline_threshold = inline_threshold
        self.compare_and_set = compare_and_set
        self.consolidated = consolidated
        self.chunks = chunks
        self._layout = Layout(prefix)
        self._chunks = (
            ChunkCollection(self._layout, inline_threshold)
            if chunks is None
            else ExternalChunks(self._layout, inline_threshold, open_chunk_store(chunks, read_only))
        )
        self._listing = Listing(self._layout.nodes, self._chunks)
        state = StoreState(max(inline_threshold, 1), walks=walk_clock((self._connection.identity(), prefix)))
        # Shared with siblings, as their connections are.
        self._batches = StoreBatches(self.database, self._layout.nodes, self._chunks, state)
        self._bind(state)

    def _bind(self, state: StoreState) -> None:
        """Use ``state`` for what this store learns (its own, or a sibling's)."""
        self._state = state
        self._reads = NodeReads(self._layout.nodes, state, self.consolidated, self.inline_threshold)
        self._writes = MetadataWrites(self._layout.nodes, state, self.compare_and_set, self._batches.insert_node)

    # ---------------------------------------------------------- configuration

    def _options(self) -> dict[str, Any]:
        """Every option but the connection and ``read_only``: what a copy of this store needs."""
        return {
            "prefix": self.prefix,
            "inline_threshold": self.inline_threshold,
            "compare_and_set": self.compare_and_set,
            "consolidated": self.consolidated,
            "chunks": self.chunks,
        }

    def close(self) -> None:
        """Close the store and its MongoDB clients (a later use reconnects).

        Stores made by :meth:`with_read_only` or :meth:`sibling` share the
        clients; they open new ones on their next use.
        """
        super().close()
        self._connection.close_clients()

    async def close_async(self) -> None:
        """:meth:`close` for code inside a running loop: the loop's client is closed now too."""
        super().close()
        await self._connection.close_clients_async()

    def with_read_only(self, read_only: bool = False) -> MongoStore:
        # docstring inherited
        return type(self)(self._connection, read_only=read_only, **self._options())

    def sibling(self) -> MongoStore:
        """Another store on the same data with the same options, for other zarr objects.

        It shares this store's connections and request batching, and keeps its
        own record of the node versions its zarr objects hold (their merge
        bases), so objects built through it (as :class:`~mongozarr.Tree` does)
        never stand in for objects built through this one. It compares equal
        to this store.
        """
        other = copy.copy(self)
        other._bind(self._state.sibling())
        return other

    def snapshot(self) -> AbstractContextManager[object]:
        """A block whose walks are answered from one snapshot, however many calls make them.

        ``with store.snapshot(): xr.open_datatree(store, engine="zarr")`` costs
        about one query per tree level instead of several per group. Inside
        the block, metadata reads see the hierarchy as its first listing found
        it (like consolidated metadata); a write through a store on the same
        data ends that snapshot. See :mod:`mongozarr.storage.walk_snapshots`.
        """
        return self._state.walks.scope()

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
        """The name of the collection of node documents (``layout.nodes``)."""
        return self._layout.nodes

    @property
    def layout(self) -> Layout:
        """The collection names and indexes of this store's prefix."""
        return self._layout

    def nodes(self) -> Any:
        """The node collection, for the running event loop."""
        return self.database()[self._layout.nodes]

    def check_writable(self) -> None:
        """Raise ``ValueError`` if this store is read-only; call before any write through it."""
        self._check_writable()

    async def ensure_indexes_async(self) -> None:
        """Create the indexes of :meth:`Layout.indexes` (once per process, database and prefix).

        Every write through the store calls it; concurrent first writes share
        one creation. Raises ``ValueError`` on a read-only store.
        """
        self._check_writable()
        await ensure_indexes(self.database(), self._layout, (self._connection.identity(), self.prefix))

    def note_view(self, document: dict[str, Any]) -> None:
        """Record that a zarr object was built from this node document.

        Its content then counts as a view that object may hold, a candidate
        merge base for the object's later writes (see :mod:`mongozarr.storage.views`).
        Call it when building zarr objects from documents read another way
        (as :class:`~mongozarr.Tree` does); zarr's own reads record themselves.
        """
        self._reads.note_view(document)

    # ------------------------------------------------------------------ reads

    @reading
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
            data = await self._batches.read_chunk(db, key, byte_range)
        else:
            data = await self._reads.read(db, self._batches.node_reads(), *meta, hand_out=True)
            if data is not None:
                start, stop = byte_slice(len(data), byte_range)
                data = data[start:stop]
        return None if data is None else prototype.buffer.from_bytes(data)

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

    @reading
    async def exists(self, key: str) -> bool:
        # docstring inherited
        db = self.database()
        meta = metadata_key(key)
        if meta is not None:
            return await self._reads.exists(db, *meta)
        return await self._chunks.exists(db, key)

    @reading
    async def getsize(self, key: str) -> int:
        # docstring inherited
        db = self.database()
        meta = metadata_key(key)
        if meta is not None:
            data = await self._reads.read(db, self._batches.node_reads(), *meta)
            if data is None:
                raise FileNotFoundError(key)
            return len(data)
        size = await self._chunks.size(db, key)
        if size is None:
            raise FileNotFoundError(key)
        return size

    @reading
    async def getsize_prefix(self, prefix: str) -> int:
        # docstring inherited
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return await self._listing.size_of_prefix(self.database(), prefix)

    # ----------------------------------------------------------------- writes

    @writing
    async def set(self, key: str, value: Buffer) -> None:
        # docstring inherited
        _check_write(self, key)
        if not isinstance(value, Buffer):
            raise TypeError(
                f"MongoStore.set(): `value` must be a Buffer instance, got {type(value).__name__}"
            )
        data = value.to_bytes()
        await self.ensure_indexes_async()
        db = self.database()
        meta = metadata_key(key)
        if meta is None:
            node = guess_node(key, self._state.arrays)
            if len(data) > self.inline_threshold:
                await self._batches.write_large_chunk(key, node, data)
            else:
                await self._batches.write_small_chunk(key, node, data)
            return
        path, name = meta
        content = parse_metadata(name, data)
        if content is not None and await self._writes.write(db, path, name, content):
            return
        # Not zarr metadata this node can hold: keep the bytes, faithfully.
        await self._writes.drop(db, path, name)
        await self._writes.write_raw(db, path, name, data)

    @writing
    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        # docstring inherited
        _check_write(self, key)
        data = value.to_bytes()
        await self.ensure_indexes_async()
        db = self.database()
        meta = metadata_key(key)
        if meta is None:
            await self._chunks.write_if_absent(db, key, guess_node(key, self._state.arrays), data)
            return
        path, name = meta
        if name in ("zarr.json", ".zgroup", ".zarray") and any(
            node_type and (name == "zarr.json") == (fmt == 3) for fmt, node_type in self._state.views.kinds(path)
        ):
            # This store has just read the node there (zarr re-asserts every
            # parent group on each create): nothing to write, no round trip.
            return
        if await self.exists(key):
            return
        content = parse_metadata(name, data)
        if content is None or not await self._writes.insert(db, path, name, content):
            await self._writes.write_raw(db, path, name, data)

    @writing
    async def delete(self, key: str) -> None:
        # docstring inherited
        self._check_writable()
        db = self.database()
        meta = metadata_key(key)
        if meta is None:
            await self._chunks.delete(db, key)
        else:
            await self._writes.drop(db, *meta)

    @writing
    async def delete_dir(self, prefix: str) -> None:
        # docstring inherited
        self._check_writable()
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        await self._listing.delete_prefix(self.database(), prefix)
        self._state.forget_prefix(prefix)

    @writing
    async def clear(self) -> None:
        # docstring inherited
        self._check_writable()
        db = self.database()
        await db[self._layout.nodes].delete_many({})
        await self._chunks.clear(db)
        self._state.forget_prefix("")

    # ---------------------------------------------------------------- listing

    @reading
    async def list(self) -> AsyncIterator[str]:
        # docstring inherited
        async for key in self.list_prefix(""):
            yield key

    @reading
    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        # docstring inherited
        async for key in self._listing.list_prefix(self.database(), prefix):
            yield key

    @reading
    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        # docstring inherited
        async for name in self._listing.list_dir(self.database(), prefix, self._state.walks):
            yield name
