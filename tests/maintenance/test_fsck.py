"""fsck finds what a crash between the steps of a GridFS write leaves, and repairs only that."""

from __future__ import annotations

import datetime
import os

import numpy as np
import pytest
import zarr
from bson import ObjectId

from mongozarr import MongoStore
from mongozarr.maintenance.fsck import FsckEvent, fsck, fsck_async
from tests import raw

HOUR_AGO = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)


def _old_id() -> ObjectId:
    # An ObjectId created an hour ago: its first 4 bytes are the creation time.
    return ObjectId(ObjectId.from_datetime(HOUR_AGO).binary[:4] + os.urandom(8))


def _array(uri: str) -> zarr.Array:
    # Chunks above the inline threshold go to GridFS.
    store = MongoStore(uri, inline_threshold=16)
    arr = zarr.open_group(store=store, mode="w").create_array("img", shape=(4, 64), chunks=(1, 64), dtype="f8")
    arr[:] = np.arange(256, dtype="f8").reshape(4, 64)
    return arr


def _leave_crash_debris(db, *, old: bool = True) -> dict[str, ObjectId]:
    new_id = _old_id if old else ObjectId
    # An upload that finished but whose pointer swap never happened.
    unswapped = new_id()
    db["zarr.fs.chunks"].insert_one({"files_id": unswapped, "n": 0, "data": b"x" * 100})
    db["zarr.fs.files"].insert_one({"_id": unswapped, "length": 100, "chunkSize": 261120,
                                    "uploadDate": HOUR_AGO, "filename": "img/c/0/0"})
    # An upload cut before its files document was written.
    torn = new_id()
    db["zarr.fs.chunks"].insert_one({"files_id": torn, "n": 0, "data": b"y" * 10})
    return {"unswapped": unswapped, "torn": torn}


def test_fsck_finds_orphans_lost_chunks_and_malformed_nodes_and_repairs_only_orphans(store_uri: str) -> None:
    arr = _array(store_uri)
    db = raw.database(store_uri)
    debris = _leave_crash_debris(db)
    # A chunk whose GridFS file vanished: its bytes are lost.
    lost = db["zarr.chunks"].find_one({"_id": "img/c/3/0"})
    db["zarr.fs.files"].delete_one({"_id": lost["gridfs_id"]})
    db["zarr.fs.chunks"].delete_many({"files_id": lost["gridfs_id"]})
    # A node written by hand from the Mongo shell.
    db["zarr.nodes"].insert_one({"_id": "bad", "parent": "", "name": "bad", "depth": 1,
                                 "node_type": "group", "zarr_format": 3, "attributes": 5})
    events: list[FsckEvent] = []
    store = MongoStore(store_uri)

    report = fsck(store, progress=events.append)
    assert report.orphan_files == [debris["unswapped"]]
    assert report.orphan_bytes == 100
    assert report.orphan_pieces == [debris["torn"]]
    assert report.lost_chunks == ["img/c/3/0"]
    assert report.malformed_nodes == [("bad", "attributes is int, not an object")]
    assert not report.repaired and not report.clean
    assert {e.stage for e in events} == {"chunks", "gridfs", "nodes"}
    # Checking changed nothing.
    assert db["zarr.fs.files"].count_documents({"_id": debris["unswapped"]}) == 1

    repaired = fsck(store, repair=True)
    assert repaired.repaired
    assert db["zarr.fs.files"].count_documents({"_id": debris["unswapped"]}) == 0
    assert db["zarr.fs.chunks"].count_documents({"files_id": {"$in": list(debris.values())}}) == 0
    again = fsck(store)
    assert again.orphan_files == [] and again.orphan_pieces == []
    assert again.lost_chunks == ["img/c/3/0"] and len(again.malformed_nodes) == 1
    # Every chunk that was not lost still reads back.
    np.testing.assert_array_equal(arr[:3], np.arange(192, dtype="f8").reshape(3, 64))


def test_recent_unreferenced_files_are_uploads_in_flight_and_left_alone(store_uri: str) -> None:
    _array(store_uri)
    db = raw.database(store_uri)
    _leave_crash_debris(db, old=False)
    report = fsck(MongoStore(store_uri), repair=True)
    assert report.clean
    assert db["zarr.fs.chunks"].count_documents({"data": b"y" * 10}) == 1
    # With no grace at all, they are orphans.
    assert len(fsck(MongoStore(store_uri), grace=0).orphan_pieces) == 1


def test_repair_through_a_read_only_store_refuses_and_removes_nothing(store_uri: str) -> None:
    _array(store_uri)
    db = raw.database(store_uri)
    debris = _leave_crash_debris(db)
    with pytest.raises(ValueError, match="read-only|read only"):
        fsck(MongoStore(store_uri, read_only=True), repair=True)
    assert db["zarr.fs.files"].count_documents({"_id": debris["unswapped"]}) == 1
    assert fsck(MongoStore(store_uri, read_only=True)).orphan_files == [debris["unswapped"]]


async def test_fsck_async_runs_inside_a_running_loop(store_uri: str) -> None:
    store = MongoStore(store_uri)
    await zarr.api.asynchronous.open_group(store=store, mode="w")
    report = await fsck_async(store)
    assert report.clean


def test_a_negative_grace_is_refused(mock_uri: str) -> None:
    with pytest.raises(ValueError, match="grace"):
        fsck(MongoStore(mock_uri), grace=-1)


def test_fsck_reports_structure_a_crash_or_a_hand_edit_left(store_uri: str) -> None:
    _array(store_uri)
    db = raw.database(store_uri)
    # A node whose parent was deleted by hand, and chunks of a node that is gone.
    db["zarr.nodes"].insert_one({"_id": "gone/child", "parent": "gone", "name": "child", "depth": 2,
                                 "node_type": "group", "zarr_format": 3, "attributes": {}})
    db["zarr.chunks"].insert_one({"_id": "ghost/c/0", "node": "ghost", "size": 3, "data": b"abc"})
    # An append reserved an hour ago and never completed, and a lease left to expire.
    db["zarr.nodes"].update_one({"_id": "img"}, {"$push": {"pending_appends": {
        "id": "r1", "axis": 0, "start": 4, "stop": 6, "owner": "host:1", "reserved_at": HOUR_AGO}}})
    db["zarr.locks"].insert_one({"_id": "img", "owner": "t", "expires_at": HOUR_AGO, "fence": 1})
    # A link whose target was removed by hand.
    db["zarr.nodes"].update_one({"_id": "img"}, {"$push": {"links": {"relation": "labels", "target": "nowhere"}}})

    report = fsck(MongoStore(store_uri))
    assert report.nodes_without_parent == ["gone/child"]
    assert report.chunks_without_node == [("ghost", 1, 3)]
    assert report.stale_appends == [("img", "r1")]
    assert report.expired_leases == ["img"]
    assert report.dangling_links == [("img", "labels", "nowhere")]
    assert "_id_" in report.indexes and not report.clean


def test_memory_benchmark_runs_and_both_algorithms_find_the_same_orphans() -> None:
    # The benchmark asserts that the old in-memory check and the merge join agree.
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, str(root / "benchmarks" / "fsck_memory.py"), "--sizes", "3000"],
                            capture_output=True, text=True, timeout=300, cwd=root)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| 3,000 | 1,530 |" in result.stdout


def test_the_join_matches_every_kind_of_id_whatever_its_place_in_the_order(store_uri: str) -> None:
    _array(store_uri)
    db = raw.database(store_uri)
    # Two chunk documents (a hand copy) pointing to one file that is gone: both are lost.
    gone = _old_id()
    for key in ("img/c/8/0", "img/c/9/0"):
        db["zarr.chunks"].insert_one({"_id": key, "node": "img", "size": 8, "gridfs_id": gone})
    # Ids that are not ObjectIds (made by hand): an orphan file, a lost chunk, torn pieces.
    db["zarr.fs.files"].insert_one({"_id": "by-hand", "length": 7, "chunkSize": 261120})
    db["zarr.fs.chunks"].insert_one({"files_id": "by-hand", "n": 0, "data": b"z" * 7})
    db["zarr.chunks"].insert_one({"_id": "img/c/7/0", "node": "img", "size": 8, "gridfs_id": 42})
    db["zarr.fs.chunks"].insert_one({"files_id": 43, "n": 0, "data": b"q"})
    # Pieces of a referenced file whose files document is gone: a lost chunk, not orphan pieces.
    lost = db["zarr.chunks"].find_one({"_id": "img/c/1/0"})["gridfs_id"]
    db["zarr.fs.files"].delete_one({"_id": lost})
    debris = _leave_crash_debris(db)

    report = fsck(MongoStore(store_uri), grace=0)
    assert report.lost_chunks == ["img/c/1/0", "img/c/7/0", "img/c/8/0", "img/c/9/0"]
    assert sorted(map(str, report.orphan_files)) == sorted([str(debris["unswapped"]), "by-hand"])
    assert report.orphan_bytes == 107
    assert sorted(map(str, report.orphan_pieces)) == sorted([str(debris["torn"]), "43"])
