"""Round trips per logical operation (PyMongo command monitoring) on the wire tier.

Round-trip counts are deterministic, so these tests assert the targets of
the performance model; timings live in benchmarks/.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import zarr

from mongozarr.monitoring import monitored_store


def _hierarchy(store: object, groups: int = 4, arrays: int = 5) -> None:
    root = zarr.open_group(store=store, mode="w", attributes={"kind": "root"})
    for g in range(groups):
        group = root.create_group(f"g{g}", attributes={"g": g})
        for a in range(arrays):
            group.create_array(f"a{a}", shape=(4,), chunks=(2,), dtype="u1", attributes={"a": a})


def _walk(store: object) -> set[str]:
    return {path for path, _ in zarr.open_group(store=store, mode="r").members(max_depth=None)}


@pytest.mark.parametrize("how", ["consolidate_metadata", "store_option"])
def test_open_and_walk_any_hierarchy_in_two_round_trips(wire_uri: str, how: str) -> None:
    store, counter = monitored_store(wire_uri)
    _hierarchy(store)
    if how == "consolidate_metadata":
        zarr.consolidate_metadata(store)
        reader, reader_counter = monitored_store(wire_uri)
    else:
        reader, reader_counter = monitored_store(wire_uri, consolidated=True)
    with reader_counter.measure() as trips:
        members = _walk(reader)
    assert len(members) == 4 + 4 * 5
    assert trips.total <= 2, trips.by_command


@pytest.mark.parametrize("concurrency", [10, 100])
def test_read_and_write_n_chunks_in_n_over_c_round_trips(wire_uri: str, concurrency: int) -> None:
    n = 200
    store, counter = monitored_store(wire_uri)
    array = zarr.create_array(store, name="x", shape=(n * 16,), chunks=(16,), dtype="u2", compressors=None)
    data = np.arange(n * 16, dtype="u2")
    reader, reader_counter = monitored_store(wire_uri)  # a fresh store: nothing learned from writes
    with zarr.config.set({"async.concurrency": concurrency}):
        with counter.measure() as writes:
            array[:] = data
        with reader_counter.measure() as reads:
            back = zarr.open_array(reader, path="x", mode="r")[:]
    np.testing.assert_array_equal(back, data)
    bound = math.ceil(n / concurrency) + 2
    assert writes.total <= bound, writes.by_command
    assert reads.total <= bound, reads.by_command  # opening the array included


def test_plain_attribute_write_is_one_round_trip(wire_uri: str) -> None:
    store, counter = monitored_store(wire_uri)
    group = zarr.open_group(store=store, mode="w")
    with counter.measure() as trips:
        group.attrs["subject"] = "mouse-7"
    assert trips.by_command == {"findAndModify": 1}
