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


def test_v2_nodes_are_created_and_updated_through_zarr(store_uri: str) -> None:
    """zarr writes a v2 node's .zgroup/.zarray and .zattrs at once: one insert finds the
    other's document, which holds nothing of its part; the repeat of .zgroup writes nothing."""
    careful = MongoStore(store_uri, compare_and_set=True)
    group = zarr.open_group(store=careful, mode="w", zarr_format=2, attributes={"a": 1})
    group.create_array("x", shape=(4,), dtype="i2", attributes={"units": "mV"})
    group.attrs["b"] = 2
    back = zarr.open_group(store=MongoStore(store_uri), mode="r", zarr_format=2)
    assert dict(back.attrs) == {"a": 1, "b": 2} and dict(back["x"].attrs) == {"units": "mV"}
    # A stale v2 object still raises: the other writer's key stays.
    stale = zarr.open_group(store=MongoStore(store_uri, compare_and_set=True), mode="r+", zarr_format=2)
    zarr.open_group(store=MongoStore(store_uri), mode="r+", zarr_format=2).attrs["c"] = 3
    with pytest.raises(ConflictError, match="changed since"):
        stale.attrs["d"] = 4
    assert dict(zarr.open_group(store=MongoStore(store_uri), mode="r", zarr_format=2).attrs) == {"a": 1, "b": 2, "c": 3}


def test_a_v2_key_lands_only_where_its_part_is_missing(store_uri: str) -> None:
    """A blind .zattrs over a v2 node that already holds attributes is a conflict, not a merge."""
    zarr.open_group(store=MongoStore(store_uri), mode="w", zarr_format=2, attributes={"a": 1})
    blind = MongoStore(store_uri, compare_and_set=True)
    with pytest.raises(ConflictError, match="already exists and this store has not read it"):
        zarr.core.sync.sync(blind.set(".zattrs", zarr.core.buffer.cpu.Buffer.from_bytes(b'{"x": 1}')))
    assert dict(zarr.open_group(store=MongoStore(store_uri), mode="r", zarr_format=2).attrs) == {"a": 1}
