"""The repair paths under faults: fsck --repair and delete_node killed at each write, repair racing a writer, a cut.

Each SIGKILL point is chosen by write-command count (PyMongo command
monitoring in the child, see ``kill_writer``); the race is staged with a
writer paused at a named command, not by timing.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zarr
from bson import ObjectId
from typer.testing import CliRunner

from mongozarr import (
    MongoStore,
    ServerUnavailableError,
    WriteOutcomeUnknownError,
    delete_node,
    link,
)
from mongozarr.cli import app
from mongozarr.maintenance.fsck import fsck
from tests import raw
from tests.faults.proxy import FaultProxy
from tests.faults.tally import record

pytestmark = [pytest.mark.wire, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
HOUR_AGO = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
# Enough kill points to get past the last write of each operation (asserted below).
MAX_STEPS = 8


def _child(uri: str, point: int | str, *action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.faults.kill_writer", uri, str(point), *action],
        check=False, cwd=ROOT, env={**os.environ}, capture_output=True, text=True, timeout=300,
    )


def _killed(result: subprocess.CompletedProcess[str]) -> bool:
    assert result.returncode == -9 or result.stdout.strip() == "completed", result.stderr
    return result.returncode == -9


def _array(uri: str) -> zarr.Array:
    # Two chunks above the inline threshold: both in GridFS.
    arr = zarr.open_group(store=MongoStore(uri, inline_threshold=16), mode="w").create_array(
        "img", shape=(128,), chunks=(64,), dtype="f8")
    arr[:] = 1.0
    return arr


def _old_id() -> ObjectId:
    return ObjectId(ObjectId.from_datetime(HOUR_AGO).binary[:4] + os.urandom(8))


def _leave_debris(db) -> None:  # type: ignore[no-untyped-def]
    """An upload never swapped in, and one cut before its files document: two orphans."""
    unswapped, torn = _old_id(), _old_id()
    db["zarr.fs.chunks"].insert_many([{"files_id": unswapped, "n": 0, "data": b"x" * 100},
                                      {"files_id": torn, "n": 0, "data": b"y" * 10}])
    db["zarr.fs.files"].insert_one({"_id": unswapped, "length": 100, "chunkSize": 261120,
                                    "uploadDate": HOUR_AGO, "filename": "img/c/0"})


def _gridfs_is_exactly_what_is_pointed_to(db) -> bool:  # type: ignore[no-untyped-def]
    pointed = {d["gridfs_id"] for d in db["zarr.chunks"].find({"gridfs_id": {"$exists": True}})}
    files = {d["_id"] for d in db["zarr.fs.files"].find({}, {"_id": 1})}
    return files == pointed and set(db["zarr.fs.chunks"].distinct("files_id")) == pointed


def test_fsck_repair_killed_at_each_write_loses_nothing_and_a_rerun_finishes(wire_uri: str) -> None:
    arr = _array(wire_uri)
    db = raw.database(wire_uri)
    completed = left_for_rerun = 0
    for step in range(1, MAX_STEPS + 1):
        _leave_debris(db)
        killed = _killed(_child(wire_uri, step, "fsck"))
        whole = bool(np.all(arr[:] == 1.0))
        # The second run is the command a user would type.
        result = CliRunner().invoke(app, ["fsck", "--repair", "--grace", "0", "--json", "--uri", wire_uri])
        assert result.exit_code == 0, result.output
        second = json.loads(result.stdout)
        found = len(second["orphan_files"]) + len(second["orphan_pieces"])
        left_for_rerun += found
        exact = _gridfs_is_exactly_what_is_pointed_to(db)
        record("fsck --repair SIGKILL at write N, then mongozarr fsck --repair",
               survived=whole and exact and not second["lost_chunks"],
               orphans_found=found, orphans_repaired=found if exact and second["repaired"] else 0)
        assert whole and second["lost_chunks"] == [], f"a kill at write {step} lost referenced data"
        assert exact, f"after a kill at write {step}, the second repair left GridFS unlike the pointers"
        if not killed:
            completed += 1
            break
    assert completed == 1, f"fsck --repair still wrote after {MAX_STEPS} writes: raise MAX_STEPS"
    assert left_for_rerun >= 1, "no kill left work for the second run: the kill points missed the repair"


def _tree(uri: str) -> zarr.Array:
    arr = _array(uri)
    root = zarr.open_group(store=MongoStore(uri), mode="r+")
    root.create_group("keep").attrs["k"] = 1
    link(MongoStore(uri), "keep", "img", "labels")
    return arr


def test_delete_node_killed_at_each_write_is_completed_by_a_rerun_and_fsck_is_clean(wire_uri: str) -> None:
    db = raw.database(wire_uri)
    completed = 0
    for step in range(1, MAX_STEPS + 1):
        db.client.drop_database(db.name)
        _tree(wire_uri)
        killed = _killed(_child(wire_uri, step, "delete", "img"))
        store = MongoStore(wire_uri)
        if killed:
            # Whatever the kill left, the same call finishes the deletion.
            delete_node(store, "img")
        before = fsck(store, grace=0)
        repaired = fsck(store, repair=True, grace=0)
        found = len(repaired.orphan_files) + len(repaired.orphan_pieces)
        after = fsck(store, grace=0)
        keep = zarr.open_group(store=store, path="keep", mode="r")
        survived = after.clean and not after.dangling_links and keep.attrs["k"] == 1
        record("delete_node SIGKILL at write N", survived=survived, orphans_found=found,
               orphans_repaired=found if _gridfs_is_exactly_what_is_pointed_to(db) else 0)
        assert after.clean and after.dangling_links == [], f"kill at write {step}: {after}"
        assert before.chunks_without_node == [] and before.nodes_without_parent == []
        assert db["zarr.nodes"].count_documents({"_id": "img"}) == 0
        assert db["zarr.chunks"].count_documents({}) == 0 and _gridfs_is_exactly_what_is_pointed_to(db)
        assert keep.attrs["k"] == 1
        if not killed:
            completed += 1
            break
    assert completed == 1, f"delete_node still wrote after {MAX_STEPS} writes: raise MAX_STEPS"


def _paused_writer(uri: str, point: str, value: float) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.kill_writer", uri, point, "pause", str(value)],
        cwd=ROOT, env={**os.environ}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()  # blocks until the child reaches the command (or dies)
    if line.strip() != "paused":
        _, err = child.communicate(timeout=300)
        pytest.fail(f"the writer did not reach {point}: {err}")
    return child


def _resume(child: subprocess.Popen[str]) -> None:
    out, err = child.communicate("\n", timeout=300)
    assert child.returncode == 0 and out.strip() == "completed", err


@pytest.mark.parametrize(("point", "grace"), [("delete", 0.0), ("zarr.chunks", None)])
def test_repair_while_a_writer_is_between_two_steps_never_deletes_what_the_writer_keeps(
    wire_uri: str, point: str, grace: float | None
) -> None:
    # Paused after the pointer swap (old file about to be deleted), repair with no
    # grace at all; paused after the upload (before the swap), repair with the
    # default grace, which is what protects an upload in flight.
    arr = _array(wire_uri)
    db = raw.database(wire_uri)
    child = _paused_writer(wire_uri, point, 5.0)
    try:
        report = fsck(MongoStore(wire_uri), repair=True, **({} if grace is None else {"grace": grace}))
        pointed_during = {d["gridfs_id"] for d in db["zarr.chunks"].find({"gridfs_id": {"$exists": True}})}
        files_left = {d["_id"] for d in db["zarr.fs.files"].find({}, {"_id": 1})}
    finally:
        _resume(child)
    found = len(report.orphan_files) + len(report.orphan_pieces)
    np.testing.assert_array_equal(arr[:64], 5.0)
    np.testing.assert_array_equal(arr[64:], 1.0)
    after = fsck(MongoStore(wire_uri), grace=0)
    exact = _gridfs_is_exactly_what_is_pointed_to(db)
    record(f"repair vs paused writer ({point}, grace {grace if grace is not None else 'default'})",
           survived=after.lost_chunks == [] and exact, orphans_found=found, orphans_repaired=found)
    assert pointed_during <= files_left, "repair deleted a file a chunk document pointed to"
    assert after.lost_chunks == [] and after.clean and exact
    # Paused after the swap, the old file was the orphan; before it, nothing was.
    assert found == (1 if point == "delete" else 0)


def test_repair_with_no_grace_against_a_live_upload_loses_that_chunk_visibly(wire_uri: str) -> None:
    # Why grace exists: the one unsafe use. The upload is unreferenced until the swap,
    # so grace=0 takes it; the writer then points its chunk at a deleted file.
    arr = _array(wire_uri)
    child = _paused_writer(wire_uri, "zarr.chunks", 5.0)
    try:
        report = fsck(MongoStore(wire_uri), repair=True, grace=0)
    finally:
        _resume(child)
    after = fsck(MongoStore(wire_uri), grace=0)
    record("repair --grace 0 vs live upload (documented misuse)", survived=not after.lost_chunks,
           orphans_found=len(report.orphan_files), orphans_repaired=len(report.orphan_files))
    assert len(report.orphan_files) == 1
    # Not silent: fsck names the chunk, and reading it says the data is gone.
    assert after.lost_chunks == ["img/c/0"]
    np.testing.assert_array_equal(arr[64:], 1.0)


@pytest.fixture
def proxy(wire_server) -> Iterator[FaultProxy]:  # type: ignore[no-untyped-def]
    with FaultProxy(wire_server.host, wire_server.port) as running:
        yield running


@pytest.mark.parametrize(("marker", "error"), [(b"delete", WriteOutcomeUnknownError),
                                                (b"aggregate", ServerUnavailableError)])
def test_a_cut_connection_during_repair_says_so_and_a_rerun_completes(
    proxy: FaultProxy, wire_uri: str, marker: bytes, error: type[Exception]
) -> None:
    arr = _array(wire_uri)
    db = raw.database(wire_uri)
    _leave_debris(db)
    database = wire_uri.rsplit("/", 1)[1].split("?")[0]
    uri = proxy.uri(database, socketTimeoutMS=5000)
    # A read is retried once by PyMongo: cut it twice.
    proxy.arm(marker, "cut-after", times=2 if marker == b"aggregate" else 1)
    with pytest.raises(error):
        fsck(MongoStore(uri), repair=True, grace=0)
    assert proxy.fired.is_set()
    again = fsck(MongoStore(uri), repair=True, grace=0)
    found = len(again.orphan_files) + len(again.orphan_pieces)
    exact = _gridfs_is_exactly_what_is_pointed_to(db)
    whole = bool(np.all(arr[:] == 1.0))
    record(f"cut connection during fsck --repair ({marker.decode()})", survived=whole and exact,
           orphans_found=found, orphans_repaired=found if exact else 0)
    assert again.repaired and again.lost_chunks == [] and exact and whole
    assert found >= 1, "the cut came after the repair had finished"
