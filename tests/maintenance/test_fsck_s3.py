"""fsck on the S3 tier: a chunk whose object vanished behind the store's back is lost, and stays reported."""

from __future__ import annotations

import numpy as np
import zarr
from zarr.core.sync import sync

from mongozarr import MongoStore
from mongozarr.maintenance.fsck import FsckEvent, fsck
from mongozarr.storage import open_store
from tests import raw


def _array(uri: str, s3_url: str) -> zarr.Array:
    store = MongoStore(uri, chunks=s3_url)
    arr = zarr.open_group(store=store, mode="w").create_array("img", shape=(4, 8), chunks=(1, 8), dtype="f8")
    arr[:] = np.arange(32, dtype="f8").reshape(4, 8)
    return arr


def test_fsck_reports_a_chunk_whose_object_is_gone_and_repair_keeps_its_document(mock_uri: str, s3_url: str) -> None:
    arr = _array(mock_uri, s3_url)
    store = MongoStore(mock_uri, chunks=s3_url)
    assert fsck(store).clean
    # Deleted behind the store's back: the index still points at it.
    sync(open_store(s3_url, "a").delete("img/c/2/0"))
    # An inline chunk of the same store is not looked up in S3.
    raw.database(mock_uri)["zarr.chunks"].insert_one({"_id": "img/c/9/0", "node": "img", "size": 1, "data": b"x"})
    events: list[FsckEvent] = []

    report = fsck(store, progress=events.append)
    assert report.lost_chunks == ["img/c/2/0"]
    assert report.lost_objects == [("img/c/2/0", f"{s3_url}/img/c/2/0")]
    assert report.orphan_files == [] and not report.clean
    assert ("objects", 4) in [(e.stage, e.done) for e in events]

    repaired = fsck(store, repair=True, grace=0)
    assert repaired.repaired and repaired.lost_chunks == ["img/c/2/0"]
    # Not safe to fix: the document stays, so the loss stays visible.
    assert raw.database(mock_uri)["zarr.chunks"].count_documents({"_id": "img/c/2/0"}) == 1
    assert fsck(store).lost_objects == [("img/c/2/0", f"{s3_url}/img/c/2/0")]
    # Opened without its chunk store, fsck says what it could not check.
    blind = fsck(MongoStore(mock_uri))
    assert blind.unchecked_objects == 4 and blind.lost_chunks == []
    np.testing.assert_array_equal(arr[:2], np.arange(16, dtype="f8").reshape(2, 8))
