"""Watch: events for created / changed (with keys) / deleted nodes, by polling or change stream."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import zarr

from mongozarr import ChangeEvent, MongoStore, append, link, watch, watch_async
from mongozarr.coordination.watch import _event_from_change, _in_full_document, _Stream


@pytest.fixture(params=["mock", "wire"])
def uri(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_uri")


def _hierarchy(store: MongoStore) -> zarr.Group:
    root = zarr.open_group(store, mode="w", attributes={"lab": "imaging"})
    root.create_array("raw/img1", shape=(0, 2), chunks=(2, 2), dtype="u1", attributes={"subject": "mouse-7"})
    root.create_array("raw/img2", shape=(2,), dtype="u1", attributes={"subject": "mouse-8"})
    root.create_group("other")
    return root


def test_polling_reports_each_kind_of_change(uri: str) -> None:
    store = MongoStore(uri)
    root = _hierarchy(store)
    events = watch(store, poll_interval=0.01)
    assert events.mode == "poll"
    assert events.poll() == []
    img = zarr.open_array(store, path="raw/img1")
    img.attrs.update({"stain": "dapi", "a.b": 1})
    root.attrs["lab"] = "imaging-2"
    root.create_array("raw/img3", shape=(1,), dtype="u1")
    del root["other"]
    append(img, np.ones((3, 2)))
    link(store, "raw/img2", "raw/img1", "derived_from")
    got = {e.path: e for e in events.poll()}
    assert got["raw/img1"].kind == "changed"
    assert got["raw/img1"].attributes == ("a.b", "stain")
    assert "metadata.shape" in got["raw/img1"].fields
    assert got[""] == ChangeEvent("changed", "", got[""].version, ("lab",), ())
    assert got["raw/img3"].kind == "created"
    assert got["other"] == ChangeEvent("deleted", "other")
    assert got["raw/img2"].fields == ("links",) and got["raw/img2"].attributes == ()
    assert events.poll() == []


def test_under_and_query_limit_the_scope(mock_uri: str) -> None:
    store = MongoStore(mock_uri)
    root = _hierarchy(store)
    in_raw = watch(store, under="/raw", poll_interval=0.01)
    mouse7 = watch(store, query={"subject": "mouse-7"}, poll_interval=0.01)
    root.attrs["x"] = 1
    zarr.open_array(store, path="raw/img2").attrs["note"] = "n"
    assert [(e.kind, e.path) for e in in_raw.poll()] == [("changed", "raw/img2")]
    assert mouse7.poll() == []
    zarr.open_array(store, path="raw/img1").attrs["subject"] = "mouse-9"  # leaves the query's scope
    zarr.open_array(store, path="raw/img2").attrs["subject"] = "mouse-7"  # enters it
    assert [(e.kind, e.path, e.attributes) for e in mouse7.poll()] == [
        ("changed", "raw/img1", ("subject",)), ("created", "raw/img2", ("note", "subject"))]


def test_iteration_stops_after_duration(mock_uri: str) -> None:
    store = MongoStore(mock_uri)
    _hierarchy(store)
    events = watch(store, under="raw", poll_interval=0.05, duration=0)
    zarr.open_array(MongoStore(mock_uri), path="raw/img2").attrs.put({"k": 1})
    # The duration is over before the first poll: iteration ends, the change waits.
    assert list(events) == []
    assert [(e.kind, e.path, e.attributes) for e in events.poll()] == [("changed", "raw/img2", ("k", "subject"))]


async def test_watch_async_inside_a_running_loop(uri: str) -> None:
    store = MongoStore(uri)
    root = await zarr.api.asynchronous.open_group(store=store, mode="w", attributes={"lab": "imaging"})
    await root.create_array("raw/img1", shape=(2,), dtype="u1")
    async with watch_async(store, under="raw", poll_interval=0.01) as events:
        assert events.mode == "poll"
        assert await events.poll_async() == []

        async def write() -> None:  # another task of this loop, after the baseline
            img = await zarr.api.asynchronous.open_array(store=store, path="raw/img1")
            await img.update_attributes({"stain": "dapi"})
            await root.update_attributes({"lab": "outside the scope"})
            await root.create_array("raw/img2", shape=(1,), dtype="u1")

        async def first_two() -> list[ChangeEvent]:
            got = []
            async for event in events:
                got.append(event)
                if len(got) == 2:
                    break
            return got

        _, got = await asyncio.gather(write(), first_two())
        assert sorted((e.kind, e.path, e.attributes) for e in got) == [
            ("changed", "raw/img1", ("stain",)), ("created", "raw/img2", ())]
        assert await events.poll_async() == []


async def test_awaited_watch_async_takes_its_baseline_and_stops_after_duration(uri: str) -> None:
    store = MongoStore(uri)
    root = await zarr.api.asynchronous.open_group(store=store, mode="w")
    unopened = watch_async(store, poll_interval=0.01, duration=0)
    with pytest.raises(RuntimeError, match="not open"):
        _ = unopened.mode
    events = await unopened
    assert events is unopened and events.mode == "poll"
    await root.update_attributes({"k": 1})
    assert [event async for event in events] == []  # the duration is over before the first poll
    assert [(e.kind, e.path, e.attributes) for e in await events.poll_async()] == [("changed", "", ("k",))]
    await events.close_async()
    with pytest.raises(ValueError, match="no change streams"):
        await watch_async(store, mode="stream")
    with pytest.raises(ValueError, match="mode"):
        watch_async(store, mode="fast")  # type: ignore[arg-type]


def test_change_stream_events_are_translated() -> None:
    update = {
        "operationType": "update",
        "documentKey": {"_id": "raw/img1"},
        "fullDocument": {"_id": "raw/img1", "version": 9},
        "updateDescription": {
            "updatedFields": {"attributes.a%2Eb": 1, "attributes.nested.deep": 2, "metadata.shape.0": 5,
                              "version": 9, "updated_at": 0, "links": []},
            "removedFields": ["attributes.old"],
        },
    }
    assert _event_from_change(update) == ChangeEvent(
        "changed", "raw/img1", 9, ("a.b", "nested", "old"), ("links", "metadata.shape"))
    insert = {"operationType": "insert", "documentKey": {"_id": "x"},
              "fullDocument": {"_id": "x", "version": 1, "attributes": {"k": 1}, "node_type": "group"}}
    assert _event_from_change(insert) == ChangeEvent("created", "x", 1, ("k",), ("node_type",))
    assert _event_from_change({"operationType": "delete", "documentKey": {"_id": "x"}}) == ChangeEvent("deleted", "x")
    assert _in_full_document({"attributes.k": 1, "$or": [{"depth": 2}]}) == {
        "fullDocument.attributes.k": 1, "$or": [{"fullDocument.depth": 2}]}
    with pytest.raises(ValueError):
        _in_full_document({"$expr": {}})


def test_change_stream_scope_is_the_subtree_by_document_key(mock_uri: str) -> None:
    match = _Stream(MongoStore(mock_uri), "/raw", None).pipeline[0]["$match"]
    assert match["$or"] == [{"documentKey._id": "raw"}, {"documentKey._id": {"$regex": "^raw/"}}]
    assert "$or" not in _Stream(MongoStore(mock_uri), None, None).pipeline[0]["$match"]


def test_auto_falls_back_to_polling_without_change_streams(wire_uri: str) -> None:
    store = MongoStore(wire_uri)
    _hierarchy(store)
    assert watch(store).mode == "poll"  # mongoeco is a standalone server: no change streams
    with pytest.raises(ValueError, match="no change streams"):
        watch(store, mode="stream")


@pytest.mark.parametrize("query", [{"$where": "sleep(1000)"}, {"$function": {}}, {"subject": {"$accumulator": 1}},
                                   {"$expr": {"$function": {"body": "x", "args": [], "lang": "js"}}}])
def test_watch_refuses_server_side_code_before_sending_anything(mock_uri: str, query: dict) -> None:
    from mongozarr import QueryError

    with pytest.raises(QueryError):
        watch(MongoStore(mock_uri), query=query)
