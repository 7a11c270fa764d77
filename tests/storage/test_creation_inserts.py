"""A node the store read as absent is created by a batched insert: the merge's document, its keys kept in a race.

See mongozarr/storage/node_inserts.py. The insert must make exactly the
document the merge's upsert makes of a new node, leave the store ready to
merge the next write the same way, and fall back to the merge when someone
else created the node between the read and the insert.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import pytest
import zarr.api.asynchronous as zasync
from zarr.core.buffer import default_buffer_prototype

from mongozarr import MongoStore
from mongozarr.storage import store_batches
from mongozarr.storage.metadata_writes import node_document
from tests import raw

_PROTOTYPE = default_buffer_prototype()
_ARRAY_V3 = {
    "zarr_format": 3, "node_type": "array", "shape": [4], "data_type": "uint8",
    "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
    "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
    "fill_value": 0, "codecs": [{"name": "bytes"}],
}
_ARRAY_V2 = {"zarr_format": 2, "shape": [4], "chunks": [2], "dtype": "|u1", "compressor": None,
             "fill_value": 0, "order": "C", "filters": None}

# (metadata key, its content) written at node "n/x": every kind of first write.
_FIRST_WRITES = {
    "v3 array with attributes": ("zarr.json", {**_ARRAY_V3, "attributes": {"a": 1, "b": {"c": [1, 2]}}}),
    "v3 group, no attributes": ("zarr.json", {"zarr_format": 3, "node_type": "group", "attributes": {}}),
    "v2 array": (".zarray", _ARRAY_V2),
    "v2 group": (".zgroup", {"zarr_format": 2}),
    "v2 attributes": (".zattrs", {"a": 1, "b": 2}),
    "v2 empty attributes": (".zattrs", {}),
}


def _buffer(content: dict[str, Any]) -> Any:
    return _PROTOTYPE.buffer.from_bytes(json.dumps(content).encode())


def _patch_inserts(
    monkeypatch: pytest.MonkeyPatch, before: Callable[[], Awaitable[None]]
) -> list[dict[Hashable, Any]]:
    """Run ``before`` ahead of every batched node insert; the outcomes of each batch are collected."""
    original = store_batches.insert_nodes
    outcomes: list[dict[Hashable, Any]] = []

    async def insert_nodes(nodes: Any, requests: dict[Hashable, list[dict[str, Any]]]) -> dict[Hashable, Any]:
        await before()
        result = await original(nodes, requests)
        outcomes.append(result)
        return result

    monkeypatch.setattr(store_batches, "insert_nodes", insert_nodes)
    return outcomes


@pytest.mark.parametrize("case", list(_FIRST_WRITES))
async def test_the_insert_makes_the_document_the_merge_made(
    store_uri: str, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, content = _FIRST_WRITES[case]
    key = f"n/x/{name}"
    outcomes = _patch_inserts(monkeypatch, _nothing)
    merged, inserted = MongoStore(store_uri, prefix="merged"), MongoStore(store_uri, prefix="inserted")
    await merged.set(key, _buffer(content))  # never read: the merge's upsert
    assert outcomes == []
    assert await inserted.get(key, _PROTOTYPE) is None  # read as absent: a creation
    await inserted.set(key, _buffer(content))
    assert [list(batch.values()) for batch in outcomes] == [[True]]
    db = raw.database(store_uri)
    docs = [db[f"{prefix}.nodes"].find_one({"_id": "n/x"}) for prefix in ("merged", "inserted")]
    stamps = [doc.pop("updated_at") for doc in docs]
    assert docs[0] == docs[1]
    assert set(docs[1]) >= {"_id", "parent", "name", "depth", "node_type", "zarr_format", "version"}
    assert (docs[1]["_id"], docs[1]["parent"], docs[1]["name"], docs[1]["depth"], docs[1]["version"]) == (
        "n/x", "n", "x", 2, 1)
    # Client time for the insert, server time for the upsert: the same machine here.
    assert all(isinstance(stamp, datetime.datetime) for stamp in stamps)
    assert abs(stamps[0].replace(tzinfo=None) - stamps[1].replace(tzinfo=None)) < datetime.timedelta(minutes=1)
    for store in (merged, inserted):
        assert await store.get(key, _PROTOTYPE) is not None
        await store.close_async()


async def _nothing() -> None:
    return None


@pytest.mark.parametrize("how", ["merged", "inserted"])
async def test_the_next_write_merges_against_what_the_creation_wrote(store_uri: str, how: str) -> None:
    # The views recorded after an insert are those the merge records: the
    # next write of the same object removes its key (a write from an unknown
    # base removes nothing) and keeps another writer's.
    store = MongoStore(store_uri)
    key = "x/zarr.json"
    if how == "inserted":
        assert await store.get(key, _PROTOTYPE) is None
    await store.set(key, _buffer({**_ARRAY_V3, "attributes": {"a": 1, "b": 2}}))
    nodes = raw.database(store_uri)["zarr.nodes"]
    nodes.update_one({"_id": "x"}, {"$set": {"attributes.other": 3}, "$inc": {"version": 1}})
    await store.set(key, _buffer({**_ARRAY_V3, "attributes": {"a": 1}}))
    doc = nodes.find_one({"_id": "x"})
    assert doc["attributes"] == {"a": 1, "other": 3} and doc["version"] == 3
    await store.close_async()


async def test_two_stores_creating_one_node_keep_both_writers_keys(
    store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both stores read the node as absent before either inserts (the barrier):
    # one insert lands, the other is refused and merges its keys in.
    barrier = asyncio.Barrier(2)
    outcomes = _patch_inserts(monkeypatch, barrier.wait)
    stores = [MongoStore(store_uri), MongoStore(store_uri)]
    await asyncio.gather(*(
        zasync.create_array(store, name="x", shape=(4,), chunks=(2,), dtype="u1", attributes={f"k{i}": i})
        for i, store in enumerate(stores)
    ))
    assert sorted(outcome for batch in outcomes for outcome in batch.values()) == [False, True]
    doc = raw.database(store_uri)["zarr.nodes"].find_one({"_id": "x"})
    assert doc["attributes"] == {"k0": 0, "k1": 1} and doc["version"] == 2
    assert doc["metadata"]["shape"] == [4]
    for store in stores:
        await store.close_async()


async def test_a_node_created_between_the_read_and_the_insert_is_merged_into(
    store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes = raw.database(store_uri)["zarr.nodes"]
    store = MongoStore(store_uri)
    root = await zasync.open_group(store=store, mode="w")

    async def someone_else_creates_it() -> None:
        nodes.insert_one(node_document("x", 3, "array", {k: v for k, v in _ARRAY_V3.items()
                                                          if k not in ("zarr_format", "node_type")},
                                       {"theirs": 1, "shared": "theirs"}))

    outcomes = _patch_inserts(monkeypatch, someone_else_creates_it)
    await root.create_array("x", shape=(4,), chunks=(2,), dtype="u1", attributes={"mine": 2, "shared": "mine"})
    assert [list(batch.values()) for batch in outcomes] == [[False]]
    doc = nodes.find_one({"_id": "x"})
    # Merged, not overwritten: their key kept, ours added, the shared key ours (the later write).
    assert doc["attributes"] == {"theirs": 1, "mine": 2, "shared": "mine"} and doc["version"] == 2
    await store.close_async()


async def test_v2_metadata_and_attributes_of_one_new_node_in_one_batch(store_uri: str) -> None:
    # zarr writes .zarray and .zattrs of a new v2 array together: one is
    # inserted, the other merged into it.
    store = MongoStore(store_uri)
    root = await zasync.open_group(store=store, mode="w", zarr_format=2)
    await root.create_array("a", shape=(4,), chunks=(2,), dtype="u1", attributes={"k": 1})
    await root.create_array("e", shape=(4,), chunks=(2,), dtype="u1")
    nodes = raw.database(store_uri)["zarr.nodes"]
    a, e = nodes.find_one({"_id": "a"}), nodes.find_one({"_id": "e"})
    assert (a["node_type"], a["attributes"], a["metadata"]["shape"]) == ("array", {"k": 1}, [4])
    assert (e["node_type"], e["attributes"], e["metadata"]["shape"]) == ("array", {}, [4])
    reopened = await zasync.open_array(store=MongoStore(store_uri), path="a", mode="r")
    assert dict(reopened.attrs) == {"k": 1}
    await reopened.store.close_async()
    await store.close_async()
