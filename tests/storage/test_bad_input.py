"""Bad or unusual input either round-trips exactly or fails naming the key, writing nothing."""

from __future__ import annotations

import json

import pytest
import zarr
from zarr.core.buffer import cpu
from zarr.core.sync import sync

from mongozarr import DocumentTooLargeError, InvalidMetadataError, MongoStore
from tests import raw

SEVENTEEN_MIB = 17 * 1024 * 1024


def _get(store: MongoStore, key: str) -> bytes | None:
    value = sync(store.get(key))
    return None if value is None else value.to_bytes()


def _set(store: MongoStore, key: str, data: bytes) -> None:
    sync(store.set(key, cpu.Buffer.from_bytes(data)))


@pytest.mark.parametrize("data", [b"not json {", b"[1, 2, 3]", b'{"zarr_format": 3}', b"\xff\xfe"])
def test_non_metadata_bytes_at_zarr_json_round_trip(store_uri: str, data: bytes) -> None:
    store = MongoStore(store_uri)
    _set(store, "g/zarr.json", data)
    assert _get(store, "g/zarr.json") == data
    assert sync(store.getsize("g/zarr.json")) == len(data)
    assert "g/zarr.json" in sync(zarr.core.sync._collect_aiterator(store.list()))
    # Replaced by real metadata, then deleted: no stale copy remains.
    _set(store, "g/zarr.json", b'{"zarr_format": 3, "node_type": "group", "attributes": {}}')
    assert json.loads(_get(store, "g/zarr.json"))["node_type"] == "group"
    sync(store.delete("g/zarr.json"))
    assert _get(store, "g/zarr.json") is None


def test_attribute_of_17_mib_is_refused_and_nothing_changes(store_uri: str) -> None:
    group = zarr.open_group(store=MongoStore(store_uri), mode="w", attributes={"keep": 1})
    before = raw.database(store_uri)["zarr.nodes"].find_one({"_id": ""})
    with pytest.raises(DocumentTooLargeError, match="'huge'") as info:
        group.attrs["huge"] = "x" * SEVENTEEN_MIB
    assert "16 MiB" in str(info.value)
    after = raw.database(store_uri)["zarr.nodes"].find_one({"_id": ""})
    assert after == before
    assert dict(zarr.open_group(store=MongoStore(store_uri), mode="r").attrs) == {"keep": 1}


def test_metadata_just_under_the_limit_is_stored(mock_uri: str) -> None:
    group = zarr.open_group(store=MongoStore(mock_uri), mode="w")
    group.attrs["large"] = "y" * (15 * 1024 * 1024)
    assert len(zarr.open_group(store=MongoStore(mock_uri), mode="r").attrs["large"]) == 15 * 1024 * 1024


def test_too_deep_nesting_is_refused_naming_the_key(mock_uri: str) -> None:
    group = zarr.open_group(store=MongoStore(mock_uri), mode="w", attributes={"ok": True})
    deep: object = 1
    for _ in range(120):
        deep = {"d": deep}
    with pytest.raises(InvalidMetadataError, match="'deep'"):
        group.attrs["deep"] = deep
    assert dict(zarr.open_group(store=MongoStore(mock_uri), mode="r").attrs) == {"ok": True}


@pytest.mark.parametrize(
    "key",
    ["a.b", "$set", "x$y", "50%", "%2E", "%u0041", "%", "", "\u00e9t\u00e9", "\u6f22\u5b57", "nul\x00byte", "..", "a/b", "\ud800lone"],
)
def test_awkward_attribute_keys_round_trip(store_uri: str, key: str) -> None:
    group = zarr.open_group(store=MongoStore(store_uri), mode="w")
    group.attrs[key] = {key: [key]}
    attrs = dict(zarr.open_group(store=MongoStore(store_uri), mode="r").attrs)
    assert attrs == {key: {key: [key]}}


@pytest.mark.parametrize("value", [2**63, 2**63 - 1, -(2**63), -(2**63) - 1, 10**40, [2**70, {"n": -(10**30)}]])
def test_integers_beyond_int64_round_trip(store_uri: str, value: object) -> None:
    group = zarr.open_group(store=MongoStore(store_uri), mode="w")
    group.attrs["n"] = value
    assert zarr.open_group(store=MongoStore(store_uri), mode="r").attrs["n"] == value


def test_tagged_looking_user_values_are_not_confused(mock_uri: str) -> None:
    group = zarr.open_group(store=MongoStore(mock_uri), mode="w")
    lookalikes = {"a": {"%int": "5"}, "b": {"%float": "NaN"}, "c": "NaN", "d": "Infinity"}
    group.attrs.update(lookalikes)
    assert dict(zarr.open_group(store=MongoStore(mock_uri), mode="r").attrs) == lookalikes


def test_invalid_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported URI"):
        MongoStore("http://example.invalid/db")
    with pytest.raises(ValueError, match="needs a name"):
        MongoStore("mongomock://")
    with pytest.raises(ValueError, match="inline_threshold"):
        MongoStore("mongomock://x", inline_threshold=17 * 1024 * 1024)
    with pytest.raises(TypeError, match="expected a MongoDB URI"):
        MongoStore(42)


def test_set_refuses_non_buffers(mock_uri: str) -> None:
    with pytest.raises(TypeError, match="Buffer"):
        sync(MongoStore(mock_uri).set("c/0", b"raw bytes"))  # type: ignore[arg-type]
