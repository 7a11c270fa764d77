"""A read-only store writes nothing, through any door: zarr, the Tree, coordination, maintenance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import zarr

import mongozarr
from mongozarr import MongoStore, open_tree
from mongozarr.maintenance.fsck import fsck
from mongozarr.monitoring import monitored_store
from mongozarr.tree.indexes import drop_index
from tests import raw

WRITE_COMMANDS = {"insert", "update", "delete", "findandmodify", "createindexes", "drop", "dropindexes"}


def _hierarchy(uri: str) -> None:
    store = MongoStore(uri)
    root = zarr.open_group(store=store, mode="w", attributes={"lab": "x"})
    arr = root.create_array("img", shape=(0, 2), chunks=(2, 2), dtype="i4")
    root.create_group("labels")
    mongozarr.append(arr, np.ones((2, 2), "i4"))
    mongozarr.link(store, "/img", "/labels", "labels")


def _snapshot(uri: str) -> dict[str, list[Any]]:
    db = raw.database(uri)
    return {name: sorted(map(repr, db[name].find({}))) for name in sorted(db.list_collection_names())}


REFUSED: dict[str, Callable[[MongoStore], Any]] = {
    "link": lambda s: mongozarr.link(s, "/labels", "/img", "source"),
    "unlink": lambda s: mongozarr.unlink(s, "/img", "/labels", "labels"),
    "unlink_dangling": lambda s: mongozarr.unlink_dangling(s),
    "delete_node": lambda s: mongozarr.delete_node(s, "/labels"),
    "forget_append": lambda s: mongozarr.forget_append(s, "/img", "no-such-record"),
    "lease": lambda s: mongozarr.lease(s, "/img").__enter__(),
    "append": lambda s: mongozarr.append(zarr.open_array(store=s, path="img", mode="r"), np.ones((2, 2), "i4")),
    "tree.update": lambda s: open_tree(s).update("/img", {"$inc": {"n": 1}}),
    "tree.setitem": lambda s: open_tree(s).__setitem__("/img@k", 1),
    "tree.delitem": lambda s: open_tree(s).__delitem__("/@lab"),
    "tree.link": lambda s: open_tree(s).link("/labels", "/img", "source"),
    "tree.lease": lambda s: open_tree(s).lease("/img").__enter__(),
    "tree.create_index": lambda s: open_tree(s).create_index("lab"),
    "fsck.repair": lambda s: fsck(s, repair=True),
    "index.drop": lambda s: drop_index(s, "parent_1"),
    "zarr.attrs": lambda s: zarr.open_group(store=s, mode="r").attrs.__setitem__("k", 1),
}


@pytest.mark.parametrize("how", ["read_only=True", "with_read_only(True)"])
@pytest.mark.parametrize("door", sorted(REFUSED))
def test_every_write_door_refuses_a_read_only_store(store_uri: str, door: str, how: str) -> None:
    _hierarchy(store_uri)
    before = _snapshot(store_uri)
    store = MongoStore(store_uri, read_only=True) if how == "read_only=True" else MongoStore(store_uri).with_read_only(True)
    with pytest.raises((ValueError, mongozarr.MongoZarrError), match="read-only|read only"):
        REFUSED[door](store)
    assert _snapshot(store_uri) == before


@pytest.mark.wire
def test_reads_through_a_read_only_store_send_no_write_command(wire_uri: str) -> None:
    _hierarchy(wire_uri)
    store, counter = monitored_store(wire_uri, read_only=True)
    tree = open_tree(store)
    with counter.measure() as trips:
        assert [link.source for link in mongozarr.backlinks(store, "/labels")] == ["img"]
        assert mongozarr.resolve(store, "/img") == ["labels"]
        assert [n.path for n in tree.find({"lab": "x"})] == [""]
        mongozarr.links(store, "/img")
        mongozarr.dangling_links(store)
        mongozarr.incomplete_appends(store, "/img")
        mongozarr.lease_status(store, "/img")
        zarr.open_group(store=store, mode="r").members(max_depth=None)
        fsck(store)
    sent = {name.lower() for name in trips.by_command}
    assert sent and not sent & WRITE_COMMANDS, sent
