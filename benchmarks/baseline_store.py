"""The baseline for the benchmarks: one MongoDB document per zarr key.

This is the design of zarr v2's ``MongoDBStore``, ported to zarr-python 3 and
PyMongo's async API: every key (metadata included) is one document
``{_id: key, value: BinData}`` in one collection, each ``get`` is one query,
nothing is batched, and no index exists beyond ``_id``. (The original kept the
key in a ``key`` field with no index at all, so each read scanned the whole
collection; using ``_id`` makes this baseline kinder than the original, so the
comparison does not flatter MongoStore.)

It is a complete zarr ``Store`` (it passes zarr's ``StoreTests``), kept
minimal on purpose: it is the yardstick, not a product.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterable
from typing import Any

from pymongo.errors import DuplicateKeyError
from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype

from mongozarr.storage.chunks.collection import byte_slice
from mongozarr.storage.connection import Connection

__all__ = ["MAX_VALUE_BYTES", "BaselineStore"]

#: The largest value a document can hold: MongoDB refuses documents above 16 MiB.
MAX_VALUE_BYTES = 16 * 1024 * 1024 - 16 * 1024


def _under(prefix: str) -> dict[str, Any]:
    return {"_id": {"$regex": "^" + re.escape(prefix)}} if prefix else {}


class BaselineStore(Store):
    """A zarr store keeping every key as one ``{_id: key, value}`` document.

    Parameters
    ----------
    target
        A ``mongodb://`` URI or ``mongomock://name``.
    database
        Database name; defaults to the URI's path, else ``"zarr"``.
    collection
        The one collection holding every key.
    read_only
        Whether writes are refused.
    client_options
        Keyword arguments for each per-loop ``AsyncMongoClient`` (``event_listeners``, ...).
    """

    supports_writes: bool = True
    supports_deletes: bool = True
    supports_listing: bool = True

    def __init__(
        self,
        target: Any,
        *,
        database: str | None = None,
        collection: str = "zarr_collection",
        read_only: bool = False,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(read_only=read_only)
        # One client per event loop, as MongoStore does: AsyncMongoClient binds to a loop.
        self._connection = (
            target if isinstance(target, Connection) else Connection(target, database, client_options)
        )
        self.collection_name = collection

    def database(self) -> Any:
        """The async database handle for the running event loop."""
        return self._connection.database()

    def _collection(self) -> Any:
        return self.database()[self.collection_name]

    def with_read_only(self, read_only: bool = False) -> BaselineStore:
        # docstring inherited
        return type(self)(self._connection, collection=self.collection_name, read_only=read_only)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, BaselineStore)
            and self._connection.identity() == other._connection.identity()
            and self.collection_name == other.collection_name
            and self.read_only == other.read_only
        )

    def __hash__(self) -> int:
        return hash((self._connection.identity(), self.collection_name, self.read_only))

    def __repr__(self) -> str:
        return f"BaselineStore('{self._connection.describe()}#{self.collection_name}')"

    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        # docstring inherited
        prototype = prototype or default_buffer_prototype()
        doc = await self._collection().find_one({"_id": key})
        if doc is None:
            return None
        value = bytes(doc["value"])
        start, stop = byte_slice(len(value), byte_range)
        return prototype.buffer.from_bytes(value[start:stop])

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, ByteRequest | None]],
    ) -> list[Buffer | None]:
        # docstring inherited
        return list(await asyncio.gather(*(self.get(k, prototype, r) for k, r in key_ranges)))

    async def exists(self, key: str) -> bool:
        # docstring inherited
        return await self._collection().find_one({"_id": key}, {"_id": 1}) is not None

    async def set(self, key: str, value: Buffer) -> None:
        # docstring inherited
        self._check_writable()
        if not isinstance(value, Buffer):
            raise TypeError(f"BaselineStore.set(): `value` must be a Buffer, got {type(value).__name__}")
        data = value.to_bytes()
        if len(data) > MAX_VALUE_BYTES:
            # What a real MongoDB answers; some test servers do not enforce it.
            raise ValueError(f"value at {key!r} ({len(data)} bytes) exceeds MongoDB's 16 MiB document limit")
        await self._collection().replace_one({"_id": key}, {"_id": key, "value": data}, upsert=True)

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        # docstring inherited
        self._check_writable()
        try:
            await self._collection().insert_one({"_id": key, "value": value.to_bytes()})
        except DuplicateKeyError:
            pass

    async def delete(self, key: str) -> None:
        # docstring inherited
        self._check_writable()
        await self._collection().delete_one({"_id": key})

    async def delete_dir(self, prefix: str) -> None:
        # docstring inherited
        self._check_writable()
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        await self._collection().delete_many(_under(prefix))

    async def clear(self) -> None:
        # docstring inherited
        self._check_writable()
        await self._collection().delete_many({})

    async def list(self) -> AsyncIterator[str]:
        # docstring inherited
        async for key in self.list_prefix(""):
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        # docstring inherited
        for doc in await self._collection().find(_under(prefix), {"_id": 1}).to_list():
            yield doc["_id"]

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        # docstring inherited
        base = prefix.rstrip("/") + "/" if prefix.rstrip("/") else ""
        seen: set[str] = set()
        async for key in self.list_prefix(base):
            head = key[len(base) :].partition("/")[0]
            if head and head not in seen:
                seen.add(head)
                yield head
