"""Round trips through zarr's public API, on every tier."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from mongozarr import MongoStore

DTYPES = ["bool", "int8", "uint16", "int32", "uint64", "int64", "float16", "float32", "float64", "complex64"]


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_hierarchy_roundtrip(store_uri: str, zarr_format: int) -> None:
    root = zarr.open_group(store=MongoStore(store_uri), mode="w", zarr_format=zarr_format,
                           attributes={"title": "run 1", "nested": {"a": [1, 2, {"b": None}]}})
    images = root.create_group("raw", attributes={"kind": "images"})
    written = {}
    for i, dtype in enumerate(DTYPES):
        data = (np.arange(24).reshape(4, 6) % 3).astype(dtype)
        array = images.create_array(f"a{i}", shape=data.shape, chunks=(2, 4), dtype=dtype,
                                    attributes={"dtype": dtype})
        array[:] = data
        written[f"raw/a{i}"] = data

    reopened = zarr.open_group(store=MongoStore(store_uri), mode="r")
    assert reopened.metadata.zarr_format == zarr_format
    assert dict(reopened.attrs) == {"title": "run 1", "nested": {"a": [1, 2, {"b": None}]}}
    assert dict(reopened["raw"].attrs) == {"kind": "images"}
    for path, data in written.items():
        array = reopened[path]
        assert array.dtype == data.dtype
        np.testing.assert_array_equal(array[:], data)
        assert array.attrs["dtype"] == str(data.dtype)
    members = {path for path, _ in reopened.members(max_depth=None)}
    assert members == {"raw", *written}


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("fill_value", [np.nan, np.inf, -np.inf, 0.5])
def test_fill_values(mock_uri: str, zarr_format: int, fill_value: float) -> None:
    store = MongoStore(mock_uri)
    array = zarr.create_array(store, shape=(5,), chunks=(2,), dtype="f8", fill_value=fill_value,
                              zarr_format=zarr_format)
    array[0] = 1.0
    reopened = zarr.open_array(MongoStore(mock_uri), mode="r")
    expected = np.array([1.0] + [fill_value] * 4)
    np.testing.assert_array_equal(reopened[:], expected)
    assert np.array_equal(np.array(reopened.fill_value), np.array(fill_value), equal_nan=True)


def test_nan_attribute_values_roundtrip(store_uri: str) -> None:
    group = zarr.open_group(store=MongoStore(store_uri), mode="w")
    group.attrs.update({"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf"),
                        "big": 2**64 + 1, "neg": -(2**63) - 1, "i64": 2**63 - 1})
    attrs = dict(zarr.open_group(store=MongoStore(store_uri), mode="r").attrs)
    assert np.isnan(attrs.pop("nan"))
    assert attrs == {"inf": float("inf"), "ninf": float("-inf"), "big": 2**64 + 1,
                     "neg": -(2**63) - 1, "i64": 2**63 - 1}


def test_sharded_array(store_uri: str) -> None:
    store = MongoStore(store_uri, inline_threshold=1024)  # shards go to GridFS
    data = np.arange(64 * 64, dtype="uint16").reshape(64, 64)
    array = zarr.create_array(store, name="sharded", shape=data.shape, chunks=(8, 8), shards=(32, 32),
                              dtype="uint16", compressors=None)
    array[:] = data
    reopened = zarr.open_array(MongoStore(store_uri), path="sharded", mode="r")
    np.testing.assert_array_equal(reopened[:], data)
    np.testing.assert_array_equal(reopened[3:11, 30:35], data[3:11, 30:35])


def test_resize_and_delete(store_uri: str) -> None:
    store = MongoStore(store_uri)
    root = zarr.open_group(store=store, mode="w")
    array = root.create_array("x", shape=(4, 4), chunks=(2, 2), dtype="i4")
    array[:] = np.arange(16).reshape(4, 4)
    array.resize((6, 4))
    array[4:] = -1
    reopened = zarr.open_array(MongoStore(store_uri), path="x", mode="r")
    assert reopened.shape == (6, 4)
    np.testing.assert_array_equal(reopened[4:], -1)
    np.testing.assert_array_equal(reopened[:4], np.arange(16).reshape(4, 4))

    array.resize((2, 4))
    assert zarr.open_array(MongoStore(store_uri), path="x", mode="r").shape == (2, 4)
    del root["x"]
    fresh = zarr.open_group(store=MongoStore(store_uri), mode="r")
    assert "x" not in fresh
    assert list(fresh.members()) == []


def test_overwrite_group_with_array(store_uri: str) -> None:
    store = MongoStore(store_uri)
    root = zarr.open_group(store=store, mode="w")
    root.create_group("thing", attributes={"was": "group"})
    root.create_array("thing", shape=(3,), dtype="u1", overwrite=True)[:] = [1, 2, 3]
    reopened = zarr.open_group(store=MongoStore(store_uri), mode="r")
    assert isinstance(reopened["thing"], zarr.Array)
    np.testing.assert_array_equal(reopened["thing"][:], [1, 2, 3])
    assert dict(reopened["thing"].attrs) == {}
