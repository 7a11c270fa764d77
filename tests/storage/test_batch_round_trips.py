"""Batches fill: N chunks cost at most ⌈N/C⌉+2 round trips at zarr's concurrency C (wire tier).

Reads: open + ⌈N/C⌉ finds. Writes: exactly ⌈N/C⌉ bulk writes, plus the
array's creation (2) when it is measured too.

Arrays use zarr's default compressor, so each chunk is decoded (encoded) in a
worker thread and zarr's callers come back to the store one by one: the case
where a per-turn flush fragments batches into singletons (for writes from the
very first batch: every ``set`` follows an encode). Round trips are counted
with PyMongo command monitoring (deterministic); timings live in
benchmarks/batch_round_trips.py.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import zarr
from zarr.core.buffer import cpu

from mongozarr.layout import Layout
from mongozarr.monitoring import monitored_store
from mongozarr.storage import batching


@pytest.fixture(autouse=True)
def _patient_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    # The tail of a batch waits about one round trip for callers still decoding
    # in zarr's worker threads (a write batch, from its first request, about
    # one encode). On a loaded test machine a decode can outlast that, which
    # would split a batch: these tests count batches, not time, so the hold is
    # made long enough that load cannot change the count.
    monkeypatch.setattr(batching, "_MIN_LINGER", 0.5)
    monkeypatch.setattr(batching, "_MAX_LINGER", 1.0)

# shape, chunks, shards (None: unsharded); the store keys are chunks or shards.
_SHAPES: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...] | None]] = {
    "1-D": ((100 * 512,), (512,), None),
    "2-D": ((10 * 16, 10 * 16), (16, 16), None),
    "3-D": ((5 * 8, 5 * 8, 4 * 8), (8, 8, 8), None),
    "sharded": ((100 * 512,), (128,), (512,)),
}


def _keys(shape: tuple[int, ...], stored: tuple[int, ...]) -> int:
    return math.prod(s // c for s, c in zip(shape, stored, strict=True))


def _write(uri: str, shape: tuple[int, ...], chunks: tuple[int, ...], shards: tuple[int, ...] | None) -> np.ndarray:
    store, _ = monitored_store(uri)
    try:
        zarr.open_group(store=store, mode="w")
        zarr.create_array(store, name="other", shape=(8,), chunks=(2,), dtype="u1")[:] = 1
        array = zarr.create_array(store, name="big", shape=shape, chunks=chunks, shards=shards, dtype="u2")
        data = (np.arange(math.prod(shape)) % 5003).astype("u2").reshape(shape)
        array[...] = data
        return data
    finally:
        store.close()


_STATES: dict[str, Callable[[Any], object]] = {
    "fresh": lambda store: None,
    "after a walk": lambda store: list(zarr.open_group(store=store, mode="r").members(max_depth=None)),
    "after other reads": lambda store: zarr.open_array(store, path="other", mode="r")[:],
}


@pytest.mark.parametrize("concurrency", [10, 100])
@pytest.mark.parametrize("shape_name", list(_SHAPES))
def test_reading_n_chunks_in_any_state_fills_its_batches(wire_uri: str, shape_name: str, concurrency: int) -> None:
    shape, chunks, shards = _SHAPES[shape_name]
    n = _keys(shape, shards or chunks)
    with zarr.config.set({"async.concurrency": concurrency}):
        data = _write(wire_uri, shape, chunks, shards)
        for state, prepare in _STATES.items():
            store, counter = monitored_store(wire_uri)
            try:
                prepare(store)
                with counter.measure() as trips:
                    back = zarr.open_array(store, path="big", mode="r")[...]
            finally:
                store.close()
            np.testing.assert_array_equal(back, data)
            assert trips.total <= math.ceil(n / concurrency) + 2, (state, trips.by_command)


@pytest.mark.parametrize("concurrency", [10, 100])
def test_partial_read_of_one_shard(wire_uri: str, concurrency: int) -> None:
    shape, chunks, shards = (64 * 128,), (128,), (64 * 128,)
    with zarr.config.set({"async.concurrency": concurrency}):
        data = _write(wire_uri, shape, chunks, shards)
        store, counter = monitored_store(wire_uri)
        try:
            with counter.measure() as trips:
                part = zarr.open_array(store, path="big", mode="r")[1000:6000]
        finally:
            store.close()
    np.testing.assert_array_equal(part, data[1000:6000])
    # One shard: open, its index, the inner chunks (all one key): ⌈1/C⌉+2.
    assert trips.total <= 3, trips.by_command


@pytest.mark.parametrize("concurrency", [10, 100])
@pytest.mark.parametrize("shape_name", list(_SHAPES))
def test_writing_n_chunks_fills_its_batches(wire_uri: str, shape_name: str, concurrency: int) -> None:
    shape, chunks, shards = _SHAPES[shape_name]
    n = _keys(shape, shards or chunks)
    store, counter = monitored_store(wire_uri)
    try:
        array = zarr.create_array(store, name="big", shape=shape, chunks=chunks, shards=shards, dtype="u2")
        data = (np.arange(math.prod(shape)) % 5003).astype("u2").reshape(shape)
        with zarr.config.set({"async.concurrency": concurrency}), counter.measure() as trips:
            array[...] = data
        np.testing.assert_array_equal(zarr.open_array(store, path="big", mode="r")[...], data)
    finally:
        store.close()
    # The floor: every batch but the last holds C chunks, the first one too.
    assert trips.by_command == {"update": math.ceil(n / concurrency)}, trips.by_command


@pytest.mark.parametrize("concurrency", [10, 100])
@pytest.mark.parametrize("shape_name", list(_SHAPES))
def test_creating_an_array_and_writing_n_chunks_costs_the_floor(
    wire_uri: str, shape_name: str, concurrency: int
) -> None:
    # As benchmarks/batch_round_trips.py measures it: a new store under an existing root.
    shape, chunks, shards = _SHAPES[shape_name]
    n = _keys(shape, shards or chunks)
    zarr.open_group(store=monitored_store(wire_uri)[0], mode="w").store.close()
    data = (np.arange(math.prod(shape)) % 5003).astype("u2").reshape(shape)
    store, counter = monitored_store(wire_uri)
    try:
        with zarr.config.set({"async.concurrency": concurrency}), counter.measure() as trips:
            array = zarr.create_array(
                store, name="big", shape=shape, chunks=chunks, shards=shards, dtype="u2"
            )
            array[...] = data
        np.testing.assert_array_equal(zarr.open_array(store, path="big", mode="r")[...], data)
    finally:
        store.close()
    # Creation: read the node (and its ancestors), write it (2); then ⌈N/C⌉ bulk writes.
    assert trips.total <= math.ceil(n / concurrency) + 2, trips.by_command


@pytest.mark.slow
def test_a_write_batch_is_bounded_by_its_request_message_not_by_a_reply(wire_uri: str) -> None:
    # 9 inline chunks of 2 MiB: 8 would fill a 16 MiB reply, but a bulk write's
    # reply is small; its request carries the bytes, up to 48 MB in one message.
    n, chunk = 9, 2 * 1024 * 1024
    store, counter = monitored_store(wire_uri)
    try:
        array = zarr.create_array(store, name="big", shape=(n * chunk,), chunks=(chunk,), dtype="u1",
                                  compressors=None)
        with zarr.config.set({"async.concurrency": n}), counter.measure() as trips:
            array[:] = 3
    finally:
        store.close()
    assert trips.by_command == {"update": 1}, trips.by_command


def test_concurrent_first_writes_create_the_indexes_once(wire_uri: str) -> None:
    store, counter = monitored_store(wire_uri)
    collections = len(Layout(store.prefix).indexes())

    async def write(keys: range) -> None:
        await asyncio.gather(*(store.set(f"a/c/{i}", cpu.Buffer.from_bytes(b"x")) for i in keys))

    try:
        with counter.measure() as first:
            zarr.core.sync.sync(write(range(50)))
        with counter.measure() as later:
            zarr.core.sync.sync(write(range(50, 60)))
    finally:
        store.close()
    # One createIndexes per collection that has indexes, however many writers raced.
    assert first.by_command.get("createIndexes") == collections, first.by_command
    assert "createIndexes" not in later.by_command, later.by_command


@pytest.mark.parametrize("compressors", [None, "auto"], ids=["raw", "compressed"])
def test_concurrent_gridfs_writes_share_their_inserts_swaps_and_deletes(
    wire_uri: str, compressors: Any
) -> None:
    n, chunk = 16, 64 * 1024  # above the 16 KiB threshold: every chunk is a GridFS file
    store, counter = monitored_store(wire_uri, inline_threshold=16 * 1024)
    try:
        array = zarr.create_array(
            store, name="big", shape=(n * chunk,), chunks=(chunk,), dtype="u1", compressors=compressors
        )
        # Random bytes: compressed, each chunk stays above the threshold.
        first = np.random.default_rng(0).integers(0, 256, n * chunk, dtype="u1")
        with zarr.config.set({"async.concurrency": n}):
            with counter.measure() as fresh:
                array[:] = first
            with counter.measure() as overwrite:
                array[:] = first[::-1]
            back = zarr.open_array(store, path="big", mode="r")[:]
    finally:
        store.close()
    np.testing.assert_array_equal(back, first[::-1])
    # One batch of all 16 (raw chunks come in one turn, encoded ones over
    # several): pointers read, pieces inserted, files inserted, pointers swapped.
    assert fresh.by_command == {"find": 1, "insert": 2, "update": 1}, fresh.by_command
    # An overwrite also deletes the old files: files documents, then pieces.
    expected = {"find": 1, "insert": 2, "update": 1, "delete": 2}
    assert overwrite.by_command == expected, overwrite.by_command
