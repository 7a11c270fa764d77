"""Creating a group or array through zarr: two round trips, and nothing stale served after (wire tier).

zarr reads the new node, then each ancestor (to refuse an array among them),
then writes. The first read brings the ancestors along; they answer the second
step only (see mongozarr/storage/creation_checks.py).
"""

from __future__ import annotations

import asyncio

import pytest
import zarr
import zarr.api.asynchronous as zasync
from zarr.core.buffer import default_buffer_prototype

from mongozarr.monitoring import monitored_store
from tests import raw

pytestmark = pytest.mark.wire


def test_creating_a_node_costs_two_round_trips(wire_uri: str) -> None:
    store, counter = monitored_store(wire_uri)
    root = zarr.open_group(store=store, mode="w", attributes={"lab": "imaging"})
    group = root.create_group("raw")
    creations = {
        "array under the root": lambda: root.create_array("a", shape=(8,), chunks=(4,), dtype="u2",
                                                          attributes={"subject": "m1"}),
        "group under the root": lambda: root.create_group("g", attributes={"k": 1}),
        "array two levels down": lambda: group.create_array("img", shape=(8,), chunks=(4,), dtype="u1"),
    }
    for what, create in creations.items():
        with counter.measure() as trips:
            create()
        assert trips.total <= 2, (what, trips.by_command)
    assert sorted(root.array_keys()) == ["a"] and root["raw/img"].shape == (8,)
    # Refusals still see the ancestors: an array cannot be a parent.
    with pytest.raises(ValueError, match="parent"):
        zarr.create_array(store, name="a/below", shape=(2,), chunks=(1,), dtype="u1")
    store.close()


async def _root_attrs(store: object) -> dict[str, object]:
    import json

    data = await store.get("zarr.json", prototype=default_buffer_prototype())  # type: ignore[attr-defined]
    return json.loads(data.to_bytes())["attributes"]


async def test_ancestors_read_for_a_creation_are_not_served_to_later_reads(wire_uri: str) -> None:
    store, _ = monitored_store(wire_uri)
    root = await zasync.open_group(store=store, mode="w", attributes={"v": 1})
    await root.create_group("g")
    nodes = raw.database(wire_uri)["zarr.nodes"]

    def bump(value: int) -> None:  # another process changes the root
        nodes.update_one({"_id": ""}, {"$set": {"attributes.v": value}, "$inc": {"version": 1}})

    absent = "missing/zarr.json"
    prototype = default_buffer_prototype()
    # The root read with an absent node answers the next read of it in this task, once:
    # the state of one round trip ago, never older; the read after that sees the database.
    assert await store.get(absent, prototype=prototype) is None
    bump(2)
    assert (await _root_attrs(store))["v"] in (1, 2)
    assert (await _root_attrs(store))["v"] == 2
    # A write through any store on the same data ends it.
    assert await store.get(absent, prototype=prototype) is None
    writer, _ = monitored_store(wire_uri)
    group = await zasync.open_group(store=writer, mode="r+")
    await group.update_attributes({"v": 4})
    assert (await _root_attrs(store))["v"] == 4
    # So does a read of anything else in the task.
    assert await store.get(absent, prototype=prototype) is None
    assert await store.get("g/zarr.json", prototype=prototype) is not None
    bump(5)
    assert (await _root_attrs(store))["v"] == 5
    await writer.close_async()
    await store.close_async()


async def test_concurrent_creations_share_their_reads_and_their_insert(wire_uri: str) -> None:
    store, counter = monitored_store(wire_uri)
    root = await zasync.open_group(store=store, mode="w")
    with counter.measure() as trips:
        await asyncio.gather(*(root.create_array(f"m{i}", shape=(4,), chunks=(2,), dtype="u1",
                                                 attributes={"i": i}) for i in range(200)))
    # Measured: 3 ({'find': 2, 'insert': 1}); each creation merged alone took a findAndModify (202).
    assert trips.total <= 4 and "findAndModify" not in trips.by_command, trips.by_command
    assert sorted(await _keys(root)) == sorted(f"m{i}" for i in range(200))
    nodes = raw.database(wire_uri)["zarr.nodes"]
    assert {doc["_id"]: doc["attributes"]["i"] for doc in nodes.find({"parent": ""})} == {
        f"m{i}": i for i in range(200)}
    await store.close_async()


@pytest.mark.parametrize("concurrency", [10, 200])
def test_create_hierarchy_inserts_its_nodes_in_batches_of_zarrs_concurrency(
    wire_uri: str, concurrency: int
) -> None:
    from zarr.core.group import GroupMetadata

    zarr.open_group(store=monitored_store(wire_uri)[0], mode="w").store.close()
    store, counter = monitored_store(wire_uri)
    nodes = {f"g{i}": GroupMetadata(attributes={"i": i}) for i in range(200)}
    with zarr.config.set({"async.concurrency": concurrency}), counter.measure() as trips:
        created = dict(zarr.create_hierarchy(store=store, nodes=nodes))
    # zarr writes at most `async.concurrency` documents at once: the floor is
    # 200 / concurrency inserts. Measured: 22 ({'find': 2, 'insert': 20}) at 10,
    # 3 ({'find': 2, 'insert': 1}) at 200; one findAndModify each before (202).
    assert trips.by_command.get("insert", 0) <= -(-200 // concurrency), trips.by_command
    assert trips.total <= -(-200 // concurrency) + 3 and "findAndModify" not in trips.by_command
    assert set(created) == set(nodes)
    docs = raw.database(wire_uri)["zarr.nodes"].find({"parent": ""})
    assert {doc["_id"]: doc["attributes"] for doc in docs} == {f"g{i}": {"i": i} for i in range(200)}
    store.close()


async def _keys(group: zasync.AsyncGroup) -> list[str]:
    return [name async for name in group.array_keys()]
