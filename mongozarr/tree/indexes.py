"""The indexes on a store's node documents: list and drop (create is :meth:`mongozarr.Tree.create_index`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zarr.core.sync import sync

if TYPE_CHECKING:
    from mongozarr.storage.store import MongoStore

__all__ = ["drop_index", "drop_index_async", "list_indexes", "list_indexes_async"]


async def list_indexes_async(store: MongoStore) -> list[dict[str, Any]]:
    """See :func:`list_indexes`."""
    information = await store.nodes().index_information()
    return [{"name": name, "keys": dict(spec["key"])} for name, spec in sorted(information.items())]


def list_indexes(store: MongoStore) -> list[dict[str, Any]]:
    """The indexes on the node documents: ``{"name": ..., "keys": {field: 1, ...}}`` each."""
    return sync(list_indexes_async(store))


async def drop_index_async(store: MongoStore, name: str) -> None:
    """See :func:`drop_index`."""
    store.check_writable()
    if name == "_id_":
        raise ValueError("the _id index cannot be dropped")
    await store.nodes().drop_index(name)


def drop_index(store: MongoStore, name: str) -> None:
    """Drop the index ``name`` on the node documents (not ``_id_``)."""
    sync(drop_index_async(store, name))
