"""SIGKILL a writer at every step of a GridFS overwrite: no torn chunk, and fsck finds every orphan."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

from mongozarr import MongoStore
from mongozarr.maintenance.fsck import fsck
from tests import raw
from tests.faults.tally import record

ROOT = Path(__file__).resolve().parents[2]
# An overwrite of a GridFS chunk sends: pieces insert, files insert, pointer swap,
# old files delete, old pieces delete. One more step than that completes.
STEPS = 6


@pytest.mark.wire
@pytest.mark.slow
def test_a_writer_killed_at_any_step_leaves_a_whole_chunk_and_only_orphans_fsck_removes(wire_uri: str) -> None:
    arr = zarr.open_group(store=MongoStore(wire_uri, inline_threshold=16), mode="w").create_array(
        "img", shape=(128,), chunks=(64,), dtype="f8")
    arr[:] = 1.0
    db = raw.database(wire_uri)
    completed = 0
    orphans_seen = 0
    for step in range(1, STEPS + 1):
        before = float(arr[0])
        result = subprocess.run(
            [sys.executable, "-m", "tests.faults.kill_writer", wire_uri, str(step), str(10.0 + step)],
            check=False, cwd=ROOT, env={**os.environ}, capture_output=True, text=True, timeout=300,
        )
        killed = result.returncode == -9
        assert killed or result.stdout.strip() == "completed", result.stderr
        completed += not killed
        chunk = arr[:64]
        whole = len(set(chunk.tolist())) == 1 and chunk[0] in (before, 10.0 + step)
        # Whole: every element is the old value or every element is the new one.
        assert len(set(chunk.tolist())) == 1, f"torn chunk after a kill at step {step}"
        assert chunk[0] in (before, 10.0 + step)
        np.testing.assert_array_equal(arr[64:], 1.0)
        report = fsck(MongoStore(wire_uri), repair=True, grace=0)
        found = len(report.orphan_files) + len(report.orphan_pieces)
        orphans_seen += found
        record("GridFS overwrite SIGKILL at write N", survived=whole and not report.lost_chunks,
               orphans_found=found, orphans_repaired=found if report.repaired else 0)
        assert report.lost_chunks == [] and report.malformed_nodes == []
        # After repair, GridFS holds exactly the files the chunk documents point to.
        pointed = {d["gridfs_id"] for d in db["zarr.chunks"].find({"gridfs_id": {"$exists": True}})}
        assert {d["_id"] for d in db["zarr.fs.files"].find({}, {"_id": 1})} == pointed
        assert set(db["zarr.fs.chunks"].distinct("files_id")) == pointed
    assert completed >= 1, "no run got past every step: the kill points were not all covered"
    assert orphans_seen >= 1, "no kill left an orphan: the steps did not cover the upload"
