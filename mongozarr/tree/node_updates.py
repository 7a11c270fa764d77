"""The Tree's writes of one node document, with a 16 MiB bound that holds as documents grow.

Every Tree write is one ``findAndModify``. MongoDB refuses a document over
16 MiB, but the servers of the other tiers (mongoeco, mongomock) store it,
and each update alone may be small: two 9 MiB ``$set``\\ s of different keys
make an 18 MiB document. So an update that can grow a document also asks,
in its filter, that the document leave room for what the update carries
(``$bsonSize``, MongoDB 4.4+): still one round trip. When that filter refuses
(or the server has no ``$bsonSize``), the document is read once, the size of
the result is bounded from it (the values the update replaces are counted
out), and the update is sent again conditioned on the version read.
"""

from __future__ import annotations

from typing import Any

import bson
from pymongo import ReturnDocument
from pymongo.errors import ConnectionFailure, OperationFailure

from mongozarr.documents import MAX_DOCUMENT_BYTES
from mongozarr.errors import (
    AttributeNotFoundError,
    ConflictError,
    DocumentTooLargeError,
    NodeNotFoundError,
    QueryError,
)
from mongozarr.storage.faults import fault
from mongozarr.storage.store import MongoStore
from mongozarr.zpath import format_node_path

__all__ = ["write_node"]

# MongoDB's codes for an update whose result would exceed 16 MiB.
_TOO_LARGE_CODES = frozenset({10334, 17419, 17420})
# Operators that can make a document larger by more than a few bytes.
_GROWING = frozenset({"$set", "$push", "$addToSet", "$setOnInsert"})
# Operators whose target's current value the update replaces or removes.
_REPLACING = frozenset({"$set", "$unset"})
# Room for what an update adds beside its values: the version and modified
# stamps, field names longer than the "v" they were measured under, and the
# index keys of pushed array items.
_SLACK = 1024
_PER_ITEM = 8
# A write conditioned on the version read gives way to concurrent writers this often.
_ATTEMPTS = 8


async def write_node(
    store: MongoStore,
    path: str,
    condition: dict[str, Any],
    update: dict[str, Any],
    projection: dict[str, Any],
    expected_version: int | None,
    what: str,
    carried: int = 0,
) -> dict[str, Any]:
    """Apply ``update`` to the node document at ``path`` and return it as updated.

    Parameters
    ----------
    condition
        Extra filter the document must match (e.g. that an attribute exists).
    carried
        The bytes of the values the update carries (from ``check_update_size``).

    Raises
    ------
    NodeNotFoundError, ConflictError, AttributeNotFoundError
        No node; not at ``expected_version``; ``condition`` not met.
    DocumentTooLargeError
        The document would exceed 16 MiB (nothing is written).
    """
    query = {"_id": path, **condition}
    if expected_version is not None:
        query["version"] = expected_version
    growing = any(op in _GROWING for op in update)
    if not growing or (await store.capabilities()).size_expressions:
        guarded = dict(query)
        if growing:
            guarded["$expr"] = {"$lte": [{"$bsonSize": "$$ROOT"}, MAX_DOCUMENT_BYTES - carried - _slack(update)]}
        doc = await _find_and_modify(store, guarded, update, projection, what)
        if doc is not None:
            return doc
    for _ in range(_ATTEMPTS):
        # Only this path reads: to bound the result, or to say which condition failed.
        current = await _read(store, path, what)
        if expected_version is not None and current.get("version") != expected_version:
            raise ConflictError(
                f"node {format_node_path(path)!r} is at version {current.get('version')}, "
                f"not the expected {expected_version}"
            )
        if not growing:  # the filter refused on ``condition`` alone
            raise AttributeNotFoundError(f"{what}: no such attribute")
        _check_room(current, update, carried, path, what)
        doc = await _find_and_modify(store, {**query, "version": current.get("version")}, update, projection, what)
        if doc is not None:
            return doc
    raise ConflictError(f"{what}: node {format_node_path(path)!r} kept changing; try again")


def _slack(update: dict[str, Any]) -> int:
    items = 0
    for op in ("$push", "$addToSet"):
        for operand in (update.get(op) or {}).values():
            each = operand.get("$each") if isinstance(operand, dict) else None
            items += len(each) if isinstance(each, list) else 1
    return _SLACK + _PER_ITEM * items


def _check_room(current: dict[str, Any], update: dict[str, Any], carried: int, path: str, what: str) -> None:
    """Raise unless the document, with the update applied, fits 16 MiB."""
    size = len(bson.encode(current))
    replaced = sum(
        _element_size(current, field) for op in _REPLACING for field in (update.get(op) or {})
    )
    after = size - replaced + carried + _slack(update)
    if after > MAX_DOCUMENT_BYTES:
        raise DocumentTooLargeError(
            f"{what}: the node document at {format_node_path(path)!r} is {size / 2**20:.1f} MiB and "
            f"would grow to about {after / 2**20:.1f} MiB, over MongoDB's 16 MiB limit"
        )


def _element_size(document: dict[str, Any], field: str) -> int:
    """The BSON bytes of the value at dotted ``field`` in ``document`` (0 if absent)."""
    value: Any = document
    keys = field.split(".")
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return 0
        value = value[key]
    return len(bson.encode({keys[-1]: value})) - 5  # minus the enclosing document's framing


async def _read(store: MongoStore, path: str, what: str) -> dict[str, Any]:
    try:
        current = await store.nodes().find_one({"_id": path})
    except ConnectionFailure as exc:
        raise fault(exc, what, write=False) from exc
    if current is None:
        raise NodeNotFoundError(f"no group or array at {format_node_path(path)!r}; create nodes with zarr first")
    return current


async def _find_and_modify(
    store: MongoStore, query: dict[str, Any], update: dict[str, Any], projection: dict[str, Any], what: str
) -> dict[str, Any] | None:
    try:
        return await store.nodes().find_one_and_update(
            query, update, projection=projection, return_document=ReturnDocument.AFTER
        )
    except OperationFailure as exc:
        if exc.code in _TOO_LARGE_CODES:
            raise DocumentTooLargeError(f"{what}: the node document would exceed MongoDB's 16 MiB limit: {exc}") from None
        raise QueryError(f"{what}: MongoDB refused the update: {exc}") from None
    except ConnectionFailure as exc:
        raise fault(exc, what, write=True) from exc

