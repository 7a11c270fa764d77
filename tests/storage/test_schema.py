"""The documents MongoStore writes follow the schema documented in DESIGN.md."""

from __future__ import annotations

import datetime
import json

import numpy as np
import zarr
from bson import ObjectId

from mongozarr import MongoStore
from tests import raw

NODE_FIELDS = {"_id", "parent", "name", "depth", "node_type", "zarr_format", "attributes",
               "metadata", "version", "updated_at"}


def _build(uri: str) -> None:
    store = MongoStore(uri, inline_threshold=2000)
    root = zarr.open_group(store=store, mode="w", attributes={"lab": "x"})
    raw_group = root.create_group("raw", attributes={"a.b": 1, "$c": 2, "50%": 3, "": 4})
    img = raw_group.create_array("img1", shape=(40, 40), chunks=(20, 20), dtype="f8", compressors=None,
                                 attributes={"subject": "mouse-7"})
    img[:] = np.random.default_rng(0).random((40, 40))  # 3200-byte chunks: GridFS
    small = raw_group.create_array("small", shape=(4,), chunks=(4,), dtype="u1")
    small[:] = 1


def test_node_documents(store_uri: str) -> None:
    _build(store_uri)
    db = raw.database(store_uri)
    docs = {d["_id"]: d for d in db["zarr.nodes"].find()}
    assert set(docs) == {"", "raw", "raw/img1", "raw/small"}
    for path, doc in docs.items():
        assert set(doc) == NODE_FIELDS, path
        assert doc["zarr_format"] == 3
        assert isinstance(doc["version"], int) and doc["version"] >= 1
        assert isinstance(doc["updated_at"], datetime.datetime)
    assert docs[""]["parent"] is None and docs[""]["depth"] == 0 and docs[""]["name"] == ""
    assert (docs["raw"]["parent"], docs["raw"]["name"], docs["raw"]["depth"]) == ("", "raw", 1)
    img = docs["raw/img1"]
    assert (img["parent"], img["name"], img["depth"], img["node_type"]) == ("raw", "img1", 2, "array")
    assert img["metadata"]["shape"] == [40, 40]
    assert img["metadata"]["data_type"] == "float64"
    assert img["attributes"] == {"subject": "mouse-7"}
    assert docs["raw"]["node_type"] == "group"
    # Escaped keys, exactly as documented.
    assert docs["raw"]["attributes"] == {"a%2Eb": 1, "%24c": 2, "50%25": 3, "%": 4}
    # The synthesized zarr.json is JSON-equal to what zarr would write.
    store = MongoStore(store_uri)
    text = zarr.core.sync.sync(store.get("raw/zarr.json"))
    assert json.loads(text.to_bytes())["attributes"] == {"a.b": 1, "$c": 2, "50%": 3, "": 4}


def test_chunk_documents(store_uri: str) -> None:
    _build(store_uri)
    db = raw.database(store_uri)
    chunks = {d["_id"]: d for d in db["zarr.chunks"].find()}
    assert set(chunks) == {f"raw/img1/c/{i}/{j}" for i in range(2) for j in range(2)} | {"raw/small/c/0"}
    for key, doc in chunks.items():
        assert doc["node"] == key.rsplit("/c/", 1)[0]
    inline = chunks["raw/small/c/0"]
    assert set(inline) == {"_id", "node", "size", "data"} and inline["size"] == len(inline["data"])
    big = chunks["raw/img1/c/0/0"]
    assert set(big) == {"_id", "node", "size", "gridfs_id"} and big["size"] == 3200
    assert isinstance(big["gridfs_id"], ObjectId)
    files = db["zarr.fs.files"].find_one({"_id": big["gridfs_id"]})
    assert files["length"] == 3200 and files["filename"] == "raw/img1/c/0/0"
    assert db["zarr.fs.files"].count_documents({}) == 4


def test_indexes_have_stable_names(store_uri: str) -> None:
    _build(store_uri)
    db = raw.database(store_uri)
    assert "parent_1" in db["zarr.nodes"].index_information()
    assert "node_1" in db["zarr.chunks"].index_information()
    assert "files_id_1_n_1" in db["zarr.fs.chunks"].index_information()


def test_gridfs_overwrite_and_delete_leave_no_orphans(store_uri: str) -> None:
    store = MongoStore(store_uri, inline_threshold=100)
    array = zarr.create_array(store, name="a", shape=(100,), chunks=(100,), dtype="f8", compressors=None)
    db = raw.database(store_uri)
    for value in (1.0, 2.0, 3.0):
        array[:] = value
        assert db["zarr.fs.files"].count_documents({}) == 1
        np.testing.assert_array_equal(zarr.open_array(MongoStore(store_uri), path="a")[:], value)
    # Inline replaces GridFS: the old file goes.
    small = MongoStore(store_uri, inline_threshold=10_000)
    zarr.open_array(small, path="a")[:] = 4.0
    assert db["zarr.fs.files"].count_documents({}) == 0
    assert db["zarr.fs.chunks"].count_documents({}) == 0
    array[:] = 5.0
    zarr.core.sync.sync(store.delete_dir("a"))
    assert db["zarr.fs.files"].count_documents({}) == 0
    assert db["zarr.fs.chunks"].count_documents({}) == 0
    assert db["zarr.chunks"].count_documents({}) == 0
