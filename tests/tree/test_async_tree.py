"""AsyncTree: every Tree operation as a coroutine, run inside the test's own event loop."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import zarr
import zarr.api.asynchronous as zarr_async

from mongozarr import (
    AsyncTree,
    AttributeNotFoundError,
    ConflictError,
    LeaseTimeout,
    MongoStore,
    NodeNotFoundError,
    NotAnArrayError,
    QueryError,
    open_tree,
    open_tree_async,
)
from tests import raw


async def _build(atree: AsyncTree) -> None:
    """/ {lab}, /raw {kind}, /raw/img0..2 (4x6 uint16, filled with i), /derived."""
    root = await zarr_async.open_group(store=atree.store, mode="w", attributes={"lab": "imaging"})
    raw_group = await root.create_group("raw", attributes={"kind": "raw"})
    for i, subject in enumerate(["mouse-7", "mouse-7", "mouse-8"]):
        array = await raw_group.create_array(
            f"img{i}", shape=(4, 6), chunks=(2, 3), dtype="uint16",
            attributes={"subject": subject, "session": i},
        )
        await array.setitem(slice(None), i)
    await root.create_group("derived", attributes={"subject": "mouse-7"})


@pytest.fixture
async def atree(store_uri: str) -> AsyncTree:
    atree = await open_tree_async(store_uri)
    await _build(atree)
    return atree


async def test_get_set_delete_in_a_running_loop(atree: AsyncTree) -> None:
    array = await atree.get("/raw/img1")
    assert isinstance(array, zarr.AsyncArray) and array.shape == (4, 6)
    assert np.array_equal(await array.getitem(slice(None)), np.full((4, 6), 1, dtype="uint16"))
    group = await atree.get("/raw")
    assert isinstance(group, zarr.AsyncGroup) and group.attrs["kind"] == "raw"
    assert sorted([name async for name in group.array_keys()]) == ["img0", "img1", "img2"]

    before = await atree.version("/raw/img0")
    await atree.set("/raw/img0@spam/eggs", 5)
    assert await atree.get("/raw/img0@spam") == {"eggs": 5}
    assert await atree.version("/raw/img0") == before + 1
    assert await atree.contains("/raw/img0@spam/eggs") and not await atree.contains("/raw/nope")
    # What the Tree wrote, a fresh store reads through zarr.
    fresh = MongoStore(atree.store.connection.uri)
    assert (await zarr_async.open_array(store=fresh, path="raw/img0")).attrs["spam"] == {"eggs": 5}
    assert raw.database(atree.store.connection.uri)["zarr.nodes"].find_one({"_id": "raw/img0"})["attributes"][
        "spam"] == {"eggs": 5}
    await atree.delete("/raw/img0@spam/eggs")
    assert (await atree.attributes("/raw/img0"))["spam"] == {}

    with pytest.raises(NodeNotFoundError, match="/nope"):
        await atree.get("/nope")
    with pytest.raises(AttributeNotFoundError, match="spam/eggs"):
        await atree.get("/raw/img0@spam/eggs")
    with pytest.raises(AttributeNotFoundError):
        await atree.delete("/raw/img0@spam/eggs")
    with pytest.raises(NodeNotFoundError, match="create nodes with zarr"):
        await atree.set("/raw/nope@x", 1)
    with pytest.raises(TypeError, match="create groups and arrays with zarr"):
        await atree.set("/raw/x", 1)
    assert await atree.get("/nope@x", None) is None
    assert await atree.get("/raw/img0@nope", "missing") == "missing"
    info = await atree.info("/raw/img2")
    assert info["path"] == "/raw/img2" and info["shape"] == [4, 6] and info["attributes"]["session"] == 2


async def test_update_and_queries_in_a_running_loop(atree: AsyncTree) -> None:
    version = await atree.version("/raw/img0")
    attributes = await atree.update(
        "/raw/img0", {"$inc": {"n": 2}, "$push": {"tags": "a"}}, return_attributes=True, expected_version=version
    )
    assert attributes is not None and attributes["n"] == 2 and attributes["tags"] == ["a"]
    with pytest.raises(ConflictError, match=f"not the expected {version}"):
        await atree.update("/raw/img0", {"$set": {"n": 0}}, expected_version=version)
    # Concurrent updates from one loop all land: each is one atomic $inc.
    await asyncio.gather(*(atree.update("/", {"$inc": {"hits": 1}}) for _ in range(10)))
    assert await atree.get("/@hits") == 10

    found = await atree.find({"subject": "mouse-7"})
    assert [node.path for node in found] == ["derived", "raw/img0", "raw/img1"]
    assert isinstance(found[1], zarr.AsyncArray) and isinstance(found[0], zarr.AsyncGroup)
    assert [n.path for n in await atree.find(under="/raw", node_type="array", limit=2)] == ["raw/img0", "raw/img1"]
    assert await atree.count({"session": {"$gte": 1}}) == 2
    assert sorted(await atree.distinct("subject")) == ["mouse-7", "mouse-8"]
    assert [n.path for n in await atree.walk("/raw")] == ["raw", "raw/img0", "raw/img1", "raw/img2"]
    assert [n.path for n in await atree.walk()][:2] == ["", "derived"]
    with pytest.raises(NodeNotFoundError):
        await atree.walk("/nope")
    assert await atree.create_index("subject") == "attributes.subject_1"
    with pytest.raises(QueryError, match="node_type"):
        await atree.find(node_type="table")


async def test_coordination_doors_in_a_running_loop(atree: AsyncTree) -> None:
    root = await zarr_async.open_group(store=atree.store, mode="r+")
    await root.create_array("img", shape=(0, 3), chunks=(2, 3), dtype="i4")
    region = await atree.append("/img", np.ones((3, 3), dtype="i4"))
    assert (region.start, region.stop) == (0, 3)
    assert (await atree.append("/img", np.full((2, 3), 2, dtype="i4"))).start == 3
    grown = await atree.get("/img")
    assert np.array_equal((await grown.getitem(slice(None)))[:, 0], [1, 1, 1, 2, 2])
    assert await atree.incomplete_appends("/img") == []
    with pytest.raises(NotAnArrayError):
        await atree.append("/raw", np.ones((1, 3), dtype="i4"))

    async with atree.lease("/img", ttl=5) as held:
        assert held.fence >= 1
        with pytest.raises(LeaseTimeout):
            async with atree.lease("/img", wait=0):
                pass

    assert await atree.link("/raw/img0", "/img") is True
    assert await atree.link("/raw/img0", "/img") is False
    assert [link.source for link in await atree.backlinks("/img")] == ["raw/img0"]


def test_tree_is_the_sync_form_of_its_async_tree(mock_uri: str) -> None:
    tree = open_tree(mock_uri)
    assert isinstance(tree.async_tree, AsyncTree) and tree.async_tree.store is tree.store
    zarr.open_group(store=tree.store, mode="w").create_group("g", attributes={"a": 1})
    tree.set("/g@b", 2)
    assert tree["/g@b"] == 2 and tree.get("/g@nope") is None
    assert isinstance(tree["/g"], zarr.Group)
    assert [node.path for node in tree.walk()] == ["", "g"]
    tree.delete("/g@b")
    assert tree.attributes("/g") == {"a": 1} and not tree.contains("/g@b")


async def test_watch_door_in_a_running_loop(atree: AsyncTree) -> None:
    async with atree.watch("/raw", poll_interval=0.01) as events:
        assert events.mode in ("poll", "stream")
        await atree.set("/raw/img0@reviewed", True)
        async for event in events:
            assert event.kind == "changed" and event.path == "raw/img0"
            assert "reviewed" in event.attributes
            break
