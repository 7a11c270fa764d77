"""MongoStore with chunk bytes in S3 (moto on loopback) and the chunk index in MongoDB."""

from __future__ import annotations

import multiprocessing
import pickle
from typing import Any

import numpy as np
import pytest
import zarr
from zarr.core.buffer import Buffer, cpu, default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import LocalStore, ObjectStore
from zarr.testing.store import StoreTests

from mongozarr import MongoStore, MongoZarrError
from mongozarr.documents import METADATA_NAMES
from mongozarr.storage import open_store
from tests import raw


def object_keys(url: str) -> set[str]:
    """Every object under the S3 location, listed by S3 itself."""
    store = open_store(url, "r")

    async def keys() -> set[str]:
        return {key async for key in store.list()}

    return sync(keys())


def put_object(url: str, key: str, data: bytes) -> None:
    store = open_store(url, "a")
    sync(store.set(key, default_buffer_prototype().buffer.from_bytes(data)))


def chunk_docs(uri: str) -> dict[str, dict[str, Any]]:
    return {doc["_id"]: doc for doc in raw.database(uri)["zarr.chunks"].find()}


class TestMongoStoreS3Conformance(StoreTests[MongoStore, cpu.Buffer]):
    """zarr's store conformance suite with every chunk's bytes in S3."""

    store_cls = MongoStore
    buffer_cls = cpu.Buffer

    @pytest.fixture
    def store_kwargs(self, mock_uri: str, s3_url: str) -> dict[str, Any]:
        return {"target": mock_uri, "chunks": s3_url}

    async def set(self, store: MongoStore, key: str, value: Buffer) -> None:
        db = raw.database(store.connection.uri)
        if key.rpartition("/")[2] in METADATA_NAMES:
            raw.write_key(db, key, value.to_bytes())
            return
        await open_store(store.chunks, "a").set(key, value)
        db["zarr.chunks"].replace_one(
            {"_id": key},
            {"_id": key, "node": key.rpartition("/")[0], "size": len(value), "external": True},
            upsert=True,
        )

    async def get(self, store: MongoStore, key: str) -> Buffer:
        db = raw.database(store.connection.uri)
        doc = db["zarr.chunks"].find_one({"_id": key})
        if key.rpartition("/")[2] in METADATA_NAMES or (doc is not None and "data" in doc):
            data = raw.read_key(db, key)  # metadata, or an empty value kept inline
            assert data is not None, key
            return self.buffer_cls.from_bytes(data)
        value = await open_store(store.chunks, "r").get(key, default_buffer_prototype())
        assert value is not None, key
        return self.buffer_cls.from_bytes(value.to_bytes())

    def test_store_repr(self, store: MongoStore) -> None:
        assert repr(store).startswith("MongoStore(")

    def test_store_supports_writes(self, store: MongoStore) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: MongoStore) -> None:
        assert store.supports_listing


def write_image(store: MongoStore, path: str = "raw/img1") -> np.ndarray:
    data = np.arange(64 * 48, dtype="uint16").reshape(64, 48)
    root = zarr.open_group(store, mode="a", attributes={"lab": "imaging"})
    array = root.create_array(path, shape=data.shape, chunks=(32, 16), dtype="uint16",
                              attributes={"subject": "mouse-7"})
    array[:] = data
    return data


def test_chunk_bytes_live_in_s3_under_their_keys(mock_uri: str, s3_url: str) -> None:
    store = MongoStore(mock_uri, chunks=s3_url)
    data = write_image(store)
    docs = chunk_docs(mock_uri)
    assert len(docs) == 6
    for key, doc in docs.items():
        assert doc["external"] is True and doc["node"] == "raw/img1"
        assert "data" not in doc and "gridfs_id" not in doc
        assert doc["size"] == sync(open_store(s3_url, "r").getsize(key))
    assert object_keys(s3_url) == set(docs)  # metadata stays in MongoDB
    assert raw.database(mock_uri)["zarr.nodes"].find_one({"_id": "raw/img1"})["attributes"] == {
        "subject": "mouse-7"
    }
    np.testing.assert_array_equal(zarr.open_array(store, path="raw/img1", mode="r")[:], data)
    # The S3 location plus the node metadata is an ordinary zarr hierarchy.
    reopened = MongoStore(mock_uri, chunks=open_store(s3_url, "r"), read_only=True)
    np.testing.assert_array_equal(zarr.open_array(reopened, path="raw/img1", mode="r")[:], data)


def test_listing_comes_from_the_mongodb_index(mock_uri: str, s3_url: str) -> None:
    store = MongoStore(mock_uri, chunks=s3_url)
    write_image(store)
    put_object(s3_url, "raw/img1/c/9/9", b"orphan, never indexed")

    async def listed() -> set[str]:
        return {key async for key in store.list_prefix("raw/img1/c/")}
    indexed = chunk_docs(mock_uri)
    metadata = {"zarr.json", "raw/zarr.json", "raw/img1/zarr.json"}
    assert listed_keys(store) == set(indexed) | metadata  # not the orphan object
    assert sync(listed()) == set(indexed)
    assert sync(store.getsize_prefix("raw/img1/c")) == sum(d["size"] for d in indexed.values())


def listed_keys(store: MongoStore) -> set[str]:
    async def keys() -> set[str]:
        return {key async for key in store.list()}

    return sync(keys())


def test_overwrite_delete_and_clear_touch_both_sides(mock_uri: str, s3_url: str) -> None:
    store = MongoStore(mock_uri, chunks=s3_url, inline_threshold=8)
    buffer = default_buffer_prototype().buffer
    sync(store.set("a/c/0", buffer.from_bytes(b"x" * 100)))
    assert object_keys(s3_url) == {"a/c/0"}
    sync(store.set("a/c/0", buffer.from_bytes(b"y" * 50)))  # overwritten in place
    assert chunk_docs(mock_uri)["a/c/0"]["size"] == 50
    assert sync(store.get("a/c/0", default_buffer_prototype())).to_bytes() == b"y" * 50
    sync(store.set("a/c/0", buffer.from_bytes(b"tiny")))  # now inline: the object goes
    assert chunk_docs(mock_uri)["a/c/0"]["data"] == b"tiny"
    assert object_keys(s3_url) == set()
    sync(store.set("a/c/1", buffer.from_bytes(b"z" * 100)))
    sync(store.delete("a/c/1"))
    assert "a/c/1" not in chunk_docs(mock_uri) and object_keys(s3_url) == set()

    for key in ("a/c/2", "a/c/3", "b/c/0"):
        sync(store.set(key, buffer.from_bytes(b"w" * 100)))
    put_object(s3_url, "a/c/orphan", b"left by a crash")
    sync(store.delete_dir("a"))
    assert set(chunk_docs(mock_uri)) == {"b/c/0"} and object_keys(s3_url) == {"b/c/0"}
    sync(store.clear())
    assert chunk_docs(mock_uri) == {} and object_keys(s3_url) == set()


def test_a_missing_object_is_an_error_not_a_fill_value(mock_uri: str, s3_url: str) -> None:
    store = MongoStore(mock_uri, chunks=s3_url)
    write_image(store)
    sync(open_store(s3_url, "a").delete("raw/img1/c/0/0"))
    with pytest.raises(MongoZarrError, match="missing from"):
        zarr.open_array(store, path="raw/img1", mode="r")[:]


def test_any_zarr_store_can_hold_the_chunks(mock_uri: str, tmp_path: Any) -> None:
    store = MongoStore(mock_uri, chunks=LocalStore(tmp_path))
    data = write_image(store)
    assert (tmp_path / "raw/img1/c/1/2").is_file()
    assert not (tmp_path / "raw/img1/zarr.json").exists()
    clone = pickle.loads(pickle.dumps(store))
    np.testing.assert_array_equal(zarr.open_array(clone, path="raw/img1", mode="r")[:], data)


def test_the_url_form_pickles_and_reconnects(mock_uri: str, s3_url: str) -> None:
    store = MongoStore(mock_uri, chunks=s3_url)
    clone = pickle.loads(pickle.dumps(store))
    assert clone.chunks == s3_url and isinstance(clone._chunks.store, ObjectStore)


def _write_array_in_child(uri: str, chunks: str, path: str, value: int) -> None:
    store = MongoStore(uri, chunks=chunks)
    root = zarr.open_group(store, mode="a")
    array = root.create_array(path, shape=(40,), chunks=(4,), dtype="int32")
    array[:] = value


@pytest.mark.wire
def test_processes_write_arrays_to_s3_through_the_wire_server(wire_uri: str, s3_url: str) -> None:
    store = MongoStore(wire_uri, chunks=s3_url)
    zarr.open_group(store, mode="w")
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_write_array_in_child, args=(wire_uri, s3_url, f"a{i}", i + 1))
        for i in range(3)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
        assert child.exitcode == 0
    root = zarr.open_group(MongoStore(wire_uri, chunks=s3_url), mode="r")
    for i in range(3):
        np.testing.assert_array_equal(root[f"a{i}"][:], np.full(40, i + 1, dtype="int32"))
    assert len(object_keys(s3_url)) == 30
    docs = list(raw.database(wire_uri)["zarr.chunks"].find({}, {"size": 1, "external": 1}))
    assert len(docs) == 30 and all(doc["external"] and doc["size"] > 0 for doc in docs)


def test_copy_out_of_and_into_s3_backed_stores(mock_uri: str, s3_url: str, tmp_path: Any) -> None:
    import mongozarr

    source = MongoStore(mock_uri, chunks=s3_url)
    data = write_image(source)
    report = mongozarr.copy(source, str(tmp_path / "out"), progress=False)
    assert report.verified and report.copied == 6 + 3
    target = MongoStore(mock_uri, prefix="again", chunks=LocalStore(tmp_path / "chunks"))
    assert mongozarr.copy(str(tmp_path / "out"), target, progress=False).verified
    np.testing.assert_array_equal(zarr.open_array(target, path="raw/img1", mode="r")[:], data)
    assert len(list((tmp_path / "chunks/raw/img1/c").rglob("*"))) == 6 + 2  # 6 chunks, 2 dirs
