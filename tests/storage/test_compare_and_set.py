"""MongoStore(compare_and_set=True): a stale metadata write raises instead of merging."""

from __future__ import annotations

import pytest
import zarr

from mongozarr import ConflictError, MongoStore


def test_stale_write_raises_and_leaves_the_node_unchanged(store_uri: str) -> None:
    zarr.open_group(store=MongoStore(store_uri), mode="w", attributes={"a": 1})
    careful = zarr.open_group(store=MongoStore(store_uri, compare_and_set=True), mode="r+")
    zarr.open_group(store=MongoStore(store_uri), mode="r+").attrs["b"] = 2  # another writer
    with pytest.raises(ConflictError, match="changed since this store read version"):
        careful.attrs["c"] = 3
    assert dict(zarr.open_group(store=MongoStore(store_uri), mode="r").attrs) == {"a": 1, "b": 2}
    # Read again, then the write goes through.
    fresh = zarr.open_group(store=careful.store, mode="r+")
    fresh.attrs["c"] = 3
    assert dict(zarr.open_group(store=MongoStore(store_uri), mode="r").attrs) == {"a": 1, "b": 2, "c": 3}


def test_blind_write_over_an_existing_node_raises(mock_uri: str) -> None:
    zarr.open_group(store=MongoStore(mock_uri), mode="w", attributes={"a": 1})
    blind = MongoStore(mock_uri, compare_and_set=True)
    document = b'{"zarr_format": 3, "node_type": "group", "attributes": {"x": 1}}'
    with pytest.raises(ConflictError, match="already exists and this store has not read it"):
        zarr.core.sync.sync(blind.set("zarr.json", zarr.core.buffer.cpu.Buffer.from_bytes(document)))
    assert dict(zarr.open_group(store=MongoStore(mock_uri), mode="r").attrs) == {"a": 1}
