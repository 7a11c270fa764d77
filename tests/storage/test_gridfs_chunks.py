"""Large chunks in GridFS: byte ranges, overwrites under concurrent reads, no orphans."""

from __future__ import annotations

import multiprocessing

import pytest
from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zarr.core.buffer import cpu
from zarr.core.sync import sync

from mongozarr import MongoStore
from mongozarr.monitoring import monitored_store
from mongozarr.storage.chunks.gridfs import GRIDFS_CHUNK_BYTES
from tests import raw

SIZE = 3 * GRIDFS_CHUNK_BYTES + 1234  # four GridFS chunks, the last one short


def _pattern(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


@pytest.mark.parametrize(
    "byte_range",
    [
        None,
        RangeByteRequest(0, 1),
        RangeByteRequest(GRIDFS_CHUNK_BYTES - 5, GRIDFS_CHUNK_BYTES + 5),
        RangeByteRequest(10, SIZE + 100),
        RangeByteRequest(SIZE, SIZE + 10),
        OffsetByteRequest(2 * GRIDFS_CHUNK_BYTES),
        SuffixByteRequest(1300),
        SuffixByteRequest(SIZE * 2),
    ],
)
def test_byte_ranges_of_a_gridfs_chunk(store_uri: str, byte_range: object) -> None:
    store = MongoStore(store_uri, inline_threshold=1024)
    data = _pattern(SIZE)
    sync(store.set("a/c/0", cpu.Buffer.from_bytes(data)))
    got = sync(store.get("a/c/0", byte_range=byte_range)).to_bytes()
    if byte_range is None:
        expected = data
    elif isinstance(byte_range, RangeByteRequest):
        expected = data[byte_range.start : byte_range.end]
    elif isinstance(byte_range, OffsetByteRequest):
        expected = data[byte_range.offset :]
    else:
        expected = data[-byte_range.suffix :]
    assert got == expected


def test_range_reads_touch_only_covering_gridfs_chunks(wire_uri: str) -> None:
    store, counter = monitored_store(wire_uri, inline_threshold=1024)
    sync(store.set("a/c/0", cpu.Buffer.from_bytes(_pattern(SIZE))))
    db = raw.database(wire_uri)
    assert db["zarr.fs.chunks"].count_documents({}) == 4
    with counter.measure() as trips:
        got = sync(store.get("a/c/0", byte_range=RangeByteRequest(GRIDFS_CHUNK_BYTES + 1, GRIDFS_CHUNK_BYTES + 9)))
    assert got.to_bytes() == _pattern(SIZE)[GRIDFS_CHUNK_BYTES + 1 : GRIDFS_CHUNK_BYTES + 9]
    # One query for the pointer, one for the single GridFS chunk that covers the range.
    assert trips.by_command == {"find": 2}


def test_inline_range_is_one_round_trip(wire_uri: str) -> None:
    store, counter = monitored_store(wire_uri)
    sync(store.set("a/c/0", cpu.Buffer.from_bytes(b"0123456789")))
    with counter.measure() as trips:
        got = sync(store.get("a/c/0", byte_range=RangeByteRequest(2, 5)))
    assert got.to_bytes() == b"234"
    assert trips.by_command == {"find": 1}


def _overwrite(uri: str, rounds: int) -> None:
    store = MongoStore(uri, inline_threshold=1024)
    for i in range(rounds):
        sync(store.set("a/c/0", cpu.Buffer.from_bytes(bytes([65 + i % 2]) * SIZE)))


def test_readers_never_see_torn_gridfs_overwrites(server_uri: str) -> None:
    store = MongoStore(server_uri, inline_threshold=1024)
    sync(store.set("a/c/0", cpu.Buffer.from_bytes(b"B" * SIZE)))
    writer = multiprocessing.get_context("spawn").Process(target=_overwrite, args=(server_uri, 6))
    writer.start()
    seen = set()
    reads = 0
    while writer.is_alive() or reads < 3:
        value = sync(store.get("a/c/0")).to_bytes()
        assert len(value) == SIZE and value in (b"A" * SIZE, b"B" * SIZE), "torn read"
        seen.add(value[:1])
        reads += 1
    writer.join(timeout=60)
    assert writer.exitcode == 0
    db = raw.database(server_uri)
    # Every old file was deleted once replaced: exactly one remains.
    assert db["zarr.fs.files"].count_documents({}) == 1
    assert db["zarr.fs.chunks"].count_documents({}) == 4
    assert reads >= 3 and seen


def test_concurrent_gridfs_reads_share_one_query(wire_uri: str) -> None:
    import numpy as np
    import zarr

    store, counter = monitored_store(wire_uri, inline_threshold=1024)
    array = zarr.create_array(store, name="big", shape=(8, 512), chunks=(2, 512), dtype="u2", compressors=None)
    data = np.arange(8 * 512, dtype="u2").reshape(8, 512)
    array[:] = data  # four 2 KiB chunks, each in GridFS
    with counter.measure() as trips:
        np.testing.assert_array_equal(array[:], data)
    # One query for the four pointers, one for all their GridFS chunks.
    assert trips.by_command == {"find": 2}
