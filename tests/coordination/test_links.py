"""Links: atomic registration, backlinks, cycle-safe resolution, dangling links."""

from __future__ import annotations

import asyncio
import multiprocessing

import pytest
import zarr

from mongozarr import (
    Link,
    MongoStore,
    NodeNotFoundError,
    backlinks,
    backlinks_async,
    dangling_links,
    dangling_links_async,
    delete_node,
    delete_node_async,
    link,
    link_async,
    links,
    links_async,
    resolve,
    resolve_async,
    unlink,
    unlink_async,
    unlink_dangling,
    unlink_dangling_async,
)
from tests import raw


@pytest.fixture(params=["mock", "wire"])
def uri(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_uri")


def _hierarchy(uri: str) -> MongoStore:
    store = MongoStore(uri)
    root = zarr.open_group(store, mode="w")
    for path in ("raw/img1", "raw/img2", "labels/cells", "labels/nuclei"):
        root.create_array(path, shape=(2,), dtype="u1")
    return store


def test_link_is_idempotent_and_queryable(uri: str) -> None:
    store = _hierarchy(uri)
    assert link(store, "raw/img1", "labels/cells") is True
    assert link(store, "/raw/img1", "/labels/cells") is False  # leading slash: same paths
    assert link(store, "raw/img1", "labels/nuclei") is True
    assert link(store, "raw/img2", "labels/cells") is True
    assert link(store, "labels/cells", "raw/img1", relation="source") is True
    assert links(store, "raw/img1") == [Link("raw/img1", "labels", "labels/cells"),
                                        Link("raw/img1", "labels", "labels/nuclei")]
    assert backlinks(store, "labels/cells") == [Link("raw/img1", "labels", "labels/cells"),
                                                Link("raw/img2", "labels", "labels/cells")]
    assert backlinks(store, "raw/img1", relation="labels") == []
    assert [lk.source for lk in backlinks(store, "raw/img1", relation="source")] == ["labels/cells"]
    # The schema addition, as a Mongo shell user sees it.
    doc = raw.database(uri)["zarr.nodes"].find_one({"_id": "raw/img1"})
    assert doc["links"] == [{"relation": "labels", "target": "labels/cells"},
                            {"relation": "labels", "target": "labels/nuclei"}]
    assert unlink(store, "raw/img1", "labels/nuclei") is True
    assert unlink(store, "raw/img1", "labels/nuclei") is False
    assert [lk.target for lk in links(store, "raw/img1")] == ["labels/cells"]
    with pytest.raises(KeyError):
        link(store, "no/such/node", "raw/img1")


def test_plain_zarr_attribute_writes_keep_links(uri: str) -> None:
    store = _hierarchy(uri)
    array = zarr.open_array(store, path="raw/img1")  # read before the link exists
    link(MongoStore(uri), "raw/img1", "labels/cells")
    array.attrs["subject"] = "mouse-7"
    assert [lk.target for lk in links(store, "raw/img1")] == ["labels/cells"]


def test_resolve_follows_links_breadth_first_and_stops_on_cycles(mock_uri: str) -> None:
    store = _hierarchy(mock_uri)
    link(store, "raw/img1", "raw/img2", "next")
    link(store, "raw/img2", "labels/cells", "next")
    link(store, "labels/cells", "raw/img1", "next")  # cycle back to the start
    link(store, "labels/cells", "labels/nuclei", "next")
    link(store, "raw/img1", "labels/nuclei", "other")
    assert resolve(store, "raw/img1", "next") == ["raw/img2", "labels/cells", "labels/nuclei"]
    assert resolve(store, "raw/img1", "next", depth=1) == ["raw/img2"]
    assert resolve(store, "raw/img1") == ["raw/img2", "labels/nuclei", "labels/cells"]
    assert resolve(store, "raw/img1", "next", depth=0) == []
    link(store, "raw/img2", "raw/img2", "self")
    assert resolve(store, "raw/img2", "self") == []


def test_delete_node_removes_or_reports_links_into_it(uri: str) -> None:
    store = _hierarchy(uri)
    link(store, "raw/img1", "labels/cells")
    link(store, "raw/img2", "labels/nuclei")
    link(store, "raw/img2", "raw/img1", "derived_from")
    link(store, "labels/cells", "raw/img2", "source")  # goes away with the subtree
    link(store, "raw/img1", "later/not-yet-written")
    assert dangling_links(store) == [Link("raw/img1", "labels", "later/not-yet-written")]

    kept = delete_node(store, "labels", links="keep")
    assert kept == [Link("raw/img1", "labels", "labels/cells"), Link("raw/img2", "labels", "labels/nuclei")]
    assert raw.database(uri)["zarr.nodes"].find_one({"_id": "labels/cells"}) is None
    assert dangling_links(store, under="raw/img2") == [Link("raw/img2", "labels", "labels/nuclei")]
    assert len(dangling_links(store)) == 3
    assert unlink_dangling(store, under="raw/img2") == [Link("raw/img2", "labels", "labels/nuclei")]
    assert len(dangling_links(store)) == 2

    removed = delete_node(store, "raw/img1")
    assert removed == [Link("raw/img2", "derived_from", "raw/img1")]
    assert links(store, "raw/img2") == []
    assert dangling_links(store) == []
    with pytest.raises(KeyError):
        delete_node(store, "raw/img1")


async def test_links_async_inside_a_running_loop(uri: str) -> None:
    store = MongoStore(uri)
    root = await zarr.api.asynchronous.open_group(store=store, mode="w")
    for path in ("raw/img1", "raw/img2", "labels/cells", "labels/nuclei"):
        await root.create_array(path, shape=(2,), dtype="u1")
    new = await asyncio.gather(*(link_async(store, "raw/img1", t) for t in ("labels/cells", "labels/nuclei")))
    assert new == [True, True]
    assert await link_async(store, "/raw/img1", "/labels/cells") is False
    assert await link_async(store, "raw/img2", "raw/img1", "derived_from") is True
    assert await link_async(store, "raw/img2", "later/not-yet-written") is True
    # Registered concurrently: in the order the server applied them.
    registered = await links_async(store, "raw/img1")
    assert sorted(registered) == [Link("raw/img1", "labels", "labels/cells"),
                                  Link("raw/img1", "labels", "labels/nuclei")]
    assert await backlinks_async(store, "raw/img1") == [Link("raw/img2", "derived_from", "raw/img1")]
    assert await resolve_async(store, "raw/img2") == ["raw/img1", "later/not-yet-written",
                                                      *(lk.target for lk in registered)]
    assert await dangling_links_async(store) == [Link("raw/img2", "labels", "later/not-yet-written")]
    assert await unlink_dangling_async(store, under="raw") == [Link("raw/img2", "labels", "later/not-yet-written")]
    assert await unlink_async(store, "raw/img1", "labels/nuclei") is True
    assert await unlink_async(store, "raw/img1", "labels/nuclei") is False
    assert await delete_node_async(store, "labels", links="keep") == [Link("raw/img1", "labels", "labels/cells")]
    assert await dangling_links_async(store) == [Link("raw/img1", "labels", "labels/cells")]
    assert await delete_node_async(store, "/raw/img1") == [Link("raw/img2", "derived_from", "raw/img1")]
    assert await links_async(store, "raw/img2") == []
    with pytest.raises(NodeNotFoundError):
        await links_async(store, "raw/img1")
    with pytest.raises(NodeNotFoundError):
        await delete_node_async(store, "raw/img1")
    with pytest.raises(ValueError, match="'remove' or 'keep'"):
        await delete_node_async(store, "raw/img2", links="drop")  # type: ignore[arg-type]


def test_read_only_store_reads_links_and_writes_none(mock_uri: str) -> None:
    _hierarchy(mock_uri)
    link(MongoStore(mock_uri), "raw/img1", "labels/cells")
    reader = MongoStore(mock_uri, read_only=True)
    assert [lk.target for lk in links(reader, "raw/img1")] == ["labels/cells"]
    assert [lk.source for lk in backlinks(reader, "labels/cells")] == ["raw/img1"]
    for write in (
        lambda: link(reader, "raw/img1", "labels/nuclei"),
        lambda: unlink(reader, "raw/img1", "labels/cells"),
        lambda: unlink_dangling(reader),
        lambda: delete_node(reader, "labels"),
    ):
        with pytest.raises(ValueError, match="read-only"):
            write()
    assert [lk.target for lk in links(reader, "raw/img1")] == ["labels/cells"]
    assert raw.database(mock_uri)["zarr.nodes"].find_one({"_id": "labels/cells"}) is not None


def _register(uri: str, worker: int, count: int) -> None:
    store = MongoStore(uri)
    array = zarr.open_array(store, path="raw/img1")
    for i in range(count):
        link(store, "raw/img1", f"labels/w{worker}-{i}")
        link(store, "raw/img1", "labels/cells")  # everyone registers this one too
        array.attrs[f"w{worker}"] = i  # plain zarr rewrites of the same document


def test_concurrent_registrations_from_processes(server_uri: str) -> None:
    _hierarchy(server_uri)
    workers, count = 4, 5
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pool.starmap(_register, [(server_uri, w, count) for w in range(workers)])
    store = MongoStore(server_uri)
    targets = [lk.target for lk in links(store, "raw/img1")]
    expected = {f"labels/w{w}-{i}" for w in range(workers) for i in range(count)} | {"labels/cells"}
    assert sorted(targets) == sorted(expected)  # each exactly once
    assert zarr.open_array(store, path="raw/img1").attrs.asdict() == {f"w{w}": count - 1 for w in range(workers)}
