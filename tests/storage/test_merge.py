"""How plain zarr metadata writes merge when zarr objects and the Tree share a store (issue 9)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import zarr

import mongozarr
from mongozarr import AmbiguousWriteWarning, ConflictError, MongoStore
from tests import raw


def _stored_attributes(uri: str, path: str) -> dict[str, object]:
    return raw.database(uri)["zarr.nodes"].find_one({"_id": path}).get("attributes") or {}


def test_issue_reproduction_keeps_shape_rows_and_keys(store_uri: str) -> None:
    store_a, store_b = MongoStore(store_uri), MongoStore(store_uri)
    arr_a = zarr.open_group(store=store_a, mode="w").create_array("t", shape=(0, 4), chunks=(3, 4), dtype="i4")
    mongozarr.append(zarr.open_array(store=store_b, path="t", mode="r+"), np.ones((5, 4), "i4"))
    mongozarr.open_tree(store_b)["/t@other"] = 1
    list(mongozarr.open_tree(store_a).find({}))  # only a read, through the same store
    mongozarr.open_tree(store_a)["/t"]
    arr_a.attrs["note"] = "x"
    t = zarr.open_array(store=MongoStore(store_uri), path="t", mode="r")
    assert t.shape == (5, 4)
    assert (t[:] == 1).all()
    assert dict(t.attrs) == {"other": 1, "note": "x"}


def test_two_objects_of_one_node_in_one_store_keep_both_keys(store_uri: str) -> None:
    store = MongoStore(store_uri)
    zarr.open_group(store=store, mode="w", attributes={"shared": 0})
    first, second = zarr.open_group(store=store, mode="r+"), zarr.open_group(store=store, mode="r+")
    first.attrs["a"] = 1
    second.attrs["b"] = 2  # second still holds {"shared": 0}: only "b" is sent
    del first.attrs["shared"]
    second.attrs["c"] = 3
    assert _stored_attributes(store_uri, "") == {"a": 1, "b": 2, "c": 3}


def test_one_object_undoes_its_own_changes(store_uri: str) -> None:
    store = MongoStore(store_uri)
    root = zarr.open(store=store, mode="w")  # zarr.open probes the node type first: no extra view
    root = zarr.open(store=store, mode="r+")
    root.attrs["k"] = 1
    root.attrs["j"] = 2
    del root.attrs["k"]
    root.attrs["j"] = 3
    root.attrs["j"] = 2
    assert _stored_attributes(store_uri, "") == {"j": 2}


def test_tree_counters_survive_stale_zarr_writes(store_uri: str) -> None:
    store = MongoStore(store_uri)
    tree = mongozarr.open_tree(store)
    group = zarr.open_group(store=store, mode="w", attributes={"count": 0})
    for _ in range(3):
        tree.update("/", {"$inc": {"count": 1}, "$push": {"log": "x"}})
        tree["/"], list(tree.find({}))  # Tree reads never become the group's merge base
    group.attrs["note"] = "stale, but only its own key is sent"
    assert _stored_attributes(store_uri, "") == {"count": 3, "log": ["x"] * 3, "note": "stale, but only its own key is sent"}


def test_resize_from_a_stale_array_is_refused_and_changes_nothing(store_uri: str) -> None:
    store = MongoStore(store_uri)
    stale = zarr.open_group(store=store, mode="w").create_array("a", shape=(2,), chunks=(2,), dtype="i4")
    mongozarr.append(zarr.open_array(store=MongoStore(store_uri), path="a", mode="r+"), np.arange(3, dtype="i4"))
    with pytest.raises(ConflictError, match=r"now has shape \(5,\), not \(2,\)"):
        stale.resize((4,))
    fresh = zarr.open_array(store=store, path="a", mode="r+")
    fresh.resize((8,))  # a resize from the current shape lands
    assert zarr.open_array(store=MongoStore(store_uri), path="a").shape == (8,)


def test_an_undo_is_applied_although_a_dropped_reader_held_the_same_view(store_uri: str) -> None:
    store = MongoStore(store_uri)
    zarr.open_group(store=store, mode="w")
    dict(zarr.open_group(store=store, mode="r").attrs)  # built and dropped: the store cannot tell
    root = zarr.open_group(store=store, mode="r+")
    with warnings.catch_warnings():
        warnings.simplefilter("error", AmbiguousWriteWarning)
        root.attrs["k"] = 1
        del root.attrs["k"]  # a repeat of the dropped reader's view, or the undo of root's own write
    assert _stored_attributes(store_uri, "") == {}


def test_an_ambiguous_write_keeps_data_and_says_what_it_did_not_do(store_uri: str) -> None:
    store = MongoStore(store_uri)
    zarr.open_group(store=store, mode="w", attributes={"k": 0})
    first, second = zarr.open_group(store=store, mode="r+"), zarr.open_group(store=store, mode="r+")
    del second.attrs["k"]
    second.attrs["z"] = 1
    # first deletes "k" too: read from second's view, the same bytes would delete "z".
    with pytest.warns(AmbiguousWriteWarning, match="'z'") as caught:
        del first.attrs["k"]
    assert set(caught[0].message.withheld) == {("attributes", "k"), ("attributes", "z")}
    assert _stored_attributes(store_uri, "") == {"z": 1}
    # A writer with its own view scope is never ambiguous.
    mine = zarr.open_group(store=store.sibling(), mode="r+")
    with warnings.catch_warnings():
        warnings.simplefilter("error", AmbiguousWriteWarning)
        del mine.attrs["z"]
    assert _stored_attributes(store_uri, "") == {}


def test_a_stale_repeat_changes_nothing(store_uri: str) -> None:
    store = MongoStore(store_uri)
    stale = zarr.open_group(store=store, mode="w", attributes={"status": "running", "count": 0})
    other = zarr.open_group(store=MongoStore(store_uri), mode="r+")
    other.attrs["count"] = 5
    other.attrs["new"] = True
    stale.attrs["status"] = "running"  # the value it already holds: nothing to send
    assert _stored_attributes(store_uri, "") == {"status": "running", "count": 5, "new": True}


def test_compare_and_set_uses_the_same_base(store_uri: str) -> None:
    store = MongoStore(store_uri, compare_and_set=True)
    root = zarr.open_group(store=store, mode="w")
    tree = mongozarr.open_tree(MongoStore(store_uri))
    list(mongozarr.open_tree(store).find({}))  # a Tree read through the same store moves nothing
    root.attrs["a"] = 1
    tree["/@b"] = 2
    with pytest.raises(ConflictError, match="changed since"):
        root.attrs["c"] = 3
    assert _stored_attributes(store_uri, "") == {"a": 1, "b": 2}


def test_the_one_indistinguishable_case_is_read_as_an_undo(mock_uri: str) -> None:
    """Documented limit: a no-op rewrite by a stale handle looks like the other handle undoing its write."""
    store = MongoStore(mock_uri)
    zarr.open_group(store=store, mode="w", attributes={"owner": "me"})
    stale, writer = zarr.open_group(store=store, mode="r+"), zarr.open_group(store=store, mode="r+")
    writer.attrs["status"] = "running"
    stale.attrs.update({"owner": "me"})  # exactly what stale holds
    assert _stored_attributes(mock_uri, "") == {"owner": "me"}  # read as writer undoing "status"
    # With its own view scope, the same rewrite is a plain repeat.
    writer.attrs["status"] = "running"
    scoped = zarr.open_group(store=store.sibling(), mode="r+")
    writer.attrs["status"] = "done"
    scoped.attrs.update({"owner": "me"})
    assert _stored_attributes(mock_uri, "")["status"] == "done"


def test_a_new_v2_node_written_as_two_keys_at_once_is_one_view(store_uri: str) -> None:
    """zarr writes a new v2 node's ``.zgroup`` and ``.zattrs`` together, neither knowing the other:
    they are one object's view, so its later writes (and a consolidation) are not ambiguous."""
    store = MongoStore(store_uri)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AmbiguousWriteWarning)
        group = zarr.open_group(store=store, mode="w", zarr_format=2)
        group.attrs["subject"] = "mouse-7"
        group.create_array("signal", shape=(4,), dtype="i2", attributes={"units": "mV"})
        zarr.consolidate_metadata(store)
        group.attrs["session"] = 2
    back = zarr.open_group(store=MongoStore(store_uri), mode="r", zarr_format=2)
    assert dict(back.attrs) == {"subject": "mouse-7", "session": 2}
    assert dict(back["signal"].attrs) == {"units": "mV"}
