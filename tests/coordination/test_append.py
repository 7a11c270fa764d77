"""Atomic append: regions, partial chunks, crashed writers, stale writers, many processes."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import pickle

import numpy as np
import pytest
import zarr

from mongozarr import (
    ConflictError,
    MongoStore,
    MongoZarrError,
    NodeNotFoundError,
    append,
    append_async,
    forget_append,
    forget_append_async,
    incomplete_appends,
    incomplete_appends_async,
)
from mongozarr.coordination.append import _pieces
from tests import raw


@pytest.fixture(params=["mock", "wire"])
def uri(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_uri")


def _series(store: MongoStore, zarr_format: int = 3, **kwargs: object) -> zarr.Array:
    options = {"shape": (0, 3), "chunks": (4, 3), "dtype": "int64", "fill_value": -1, **kwargs}
    return zarr.create_array(store, name="series", zarr_format=zarr_format, **options)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_appends_are_contiguous_and_land_where_reported(uri: str, zarr_format: int) -> None:
    store = MongoStore(uri)
    array = _series(store, zarr_format)
    regions = [append(array, np.full((n, 3), n)) for n in (3, 2, 6, 1, 4)]
    assert [(r.start, r.stop) for r in regions] == [(0, 3), (3, 5), (5, 11), (11, 12), (12, 16)]
    assert [r.shape for r in regions][-1] == (16, 3)
    back = zarr.open_array(store, path="series")
    assert back.shape == (16, 3)
    for n, region in zip((3, 2, 6, 1, 4), regions, strict=True):
        np.testing.assert_array_equal(back[region.selection], np.full((n, 3), n))
    assert incomplete_appends(store, "series") == []
    assert "pending_appends" in raw.database(uri)["zarr.nodes"].find_one({"_id": "series"})


def test_append_along_another_axis_and_sharded(mock_uri: str) -> None:
    store = MongoStore(mock_uri)
    array = _series(store, shape=(2, 0), chunks=(2, 2), shards=(2, 4))
    first = append(array, [[1], [1]], axis=1)
    second = append(array, [[2, 2, 2], [2, 2, 2]], axis=-1)
    assert (first.axis, first.start, first.stop, second.start, second.stop) == (1, 0, 1, 1, 4)
    np.testing.assert_array_equal(zarr.open_array(store, path="series")[:], [[1, 2, 2, 2]] * 2)


def test_mismatched_data_reserves_nothing(mock_uri: str) -> None:
    store = MongoStore(mock_uri)
    array = _series(store)
    with pytest.raises(ValueError, match="every other axis"):
        append(array, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="dimensions"):
        append(array, np.zeros(3))
    assert zarr.open_array(store, path="series").shape == (0, 3)
    replaced = zarr.create_array(MongoStore(mock_uri), name="x", shape=(0,), chunks=(2,), dtype="i1")
    zarr.open_group(MongoStore(mock_uri), path="x", mode="w")  # another writer makes it a group
    with pytest.raises(MongoZarrError, match="not an array"):
        append(replaced, [1])
    gone = zarr.create_array(MongoStore(mock_uri), name="gone", shape=(0,), chunks=(2,), dtype="i1")
    del zarr.open_group(MongoStore(mock_uri), mode="a")["gone"]
    with pytest.raises(KeyError, match="no array"):
        append(gone, [1])


class _Crash(Exception):
    pass


def test_crashed_writer_leaves_fill_values_and_a_record(mock_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = MongoStore(mock_uri)
    array = _series(store)
    append(array, np.full((2, 3), 7))

    async def crash(*args: object, **kwargs: object) -> None:
        raise _Crash  # the writer dies between reservation and write

    monkeypatch.setattr("mongozarr.coordination.append._write_region", crash)
    with pytest.raises(_Crash):
        append(array, np.full((3, 3), 8))
    monkeypatch.undo()
    append(array, np.full((1, 3), 9))
    back = zarr.open_array(store, path="series")
    np.testing.assert_array_equal(back[:, 0], [7, 7, -1, -1, -1, 9])
    (lost,) = incomplete_appends(store, "series")
    assert (lost.axis, lost.start, lost.stop, lost.shape) == (0, 2, 5, (6, 3))
    assert forget_append(store, "series", lost.id) is True
    assert forget_append(store, "series", lost.id) is False
    assert incomplete_appends(store, "series") == []


async def test_append_async_inside_a_running_loop(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = MongoStore(uri)
    array = await zarr.api.asynchronous.create_array(
        store, name="series", shape=(0, 3), chunks=(4, 3), dtype="int64", fill_value=-1
    )
    first = await append_async(array, np.full((3, 3), 3))
    assert (first.start, first.stop, first.shape) == (0, 3, (3, 3))
    # Appenders in one loop, interleaved by the loop: disjoint, contiguous regions.
    sizes = (1, 2, 3, 2)
    regions = await asyncio.gather(*(append_async(array, np.full((n, 3), 10 + n)) for n in sizes))
    spans = sorted((r.start, r.stop) for r in regions)
    assert spans[0][0] == 3 and spans[-1][1] == 3 + sum(sizes)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    back = await zarr.api.asynchronous.open_array(store=store, path="series")
    assert back.shape == (3 + sum(sizes), 3)
    for n, region in zip(sizes, regions, strict=True):
        np.testing.assert_array_equal(await back.getitem(region.selection), np.full((n, 3), 10 + n))
    assert await incomplete_appends_async(store, "series") == []

    async def crash(*args: object, **kwargs: object) -> None:
        raise _Crash

    monkeypatch.setattr("mongozarr.coordination.append._write_region", crash)
    with pytest.raises(_Crash):
        await append_async(array, np.full((2, 3), 8))
    (lost,) = await incomplete_appends_async(store, "/series")
    assert (lost.start, lost.stop) == (3 + sum(sizes), 5 + sum(sizes))
    assert await forget_append_async(store, "series", lost.id) is True
    assert await forget_append_async(store, "series", lost.id) is False
    with pytest.raises(NodeNotFoundError):
        await incomplete_appends_async(store, "no/such/array")


def test_read_only_store_cannot_forget_an_append(mock_uri: str) -> None:
    with pytest.raises(ValueError, match="read-only"):
        forget_append(MongoStore(mock_uri, read_only=True), "series", "any")


def test_pieces_split_off_shared_chunks() -> None:
    assert _pieces(0, 8, 4) == [(0, 8, False)]
    assert _pieces(2, 3, 4) == [(2, 3, True)]
    assert _pieces(2, 13, 4) == [(2, 4, True), (4, 12, False), (12, 13, True)]
    assert _pieces(4, 6, 4) == [(4, 6, True)]
    assert _pieces(3, 4, 4) == [(3, 4, True)]


def _shape(uri: str) -> tuple[int, ...]:
    return zarr.open_array(MongoStore(uri), path="series").shape


def test_stale_array_attribute_write_keeps_appended_rows(uri: str) -> None:
    old = _series(MongoStore(uri))  # this process's Array caches shape (0, 3)
    append(zarr.open_array(MongoStore(uri), path="series"), np.ones((5, 3)))  # another writer
    old.attrs["note"] = "written from a stale Array"
    assert _shape(uri) == (5, 3)
    append(old, np.ones((2, 3)))  # appending through the stale object itself
    old.attrs["note2"] = 2
    assert _shape(uri) == (7, 3)
    assert zarr.open_array(MongoStore(uri), path="series").attrs.asdict() == {
        "note": "written from a stale Array", "note2": 2}


def test_stale_resize_conflicts_instead_of_dropping_rows(uri: str) -> None:
    old = _series(MongoStore(uri))
    append(zarr.open_array(MongoStore(uri), path="series"), np.ones((5, 3)))
    with pytest.raises(ConflictError, match="re-open"):
        old.resize((1, 3))  # what zarr's own Array.append does first
    assert _shape(uri) == (5, 3)
    fresh = zarr.open_array(MongoStore(uri), path="series")
    fresh.resize((2, 3))  # a resize from a current view still works
    assert _shape(uri) == (2, 3)


def test_pickled_stale_array_cannot_shrink(mock_uri: str) -> None:
    shipped = pickle.loads(pickle.dumps(_series(MongoStore(mock_uri))))  # e.g. to a dask worker
    append(zarr.open_array(MongoStore(mock_uri), path="series"), np.ones((5, 3)))
    with pytest.raises(ConflictError):
        shipped.attrs["k"] = 1
    assert _shape(mock_uri) == (5, 3)


def _append_rows(uri: str, worker: int, count: int) -> list[tuple[int, int]]:
    array = zarr.open_array(MongoStore(uri), path="series")
    regions = []
    for i in range(count):
        rows = 1 + (worker + i) % 3  # 1..3 rows: most appends share a chunk of 4
        region = append(array, np.full((rows, 3), worker * 1000 + i))
        regions.append((region.start, region.stop))
    return regions


def test_concurrent_appenders_never_overlap_or_lose_rows(server_uri: str) -> None:
    _series(MongoStore(server_uri))
    workers, count = 4, 6
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        results = pool.starmap(_append_rows, [(server_uri, w, count) for w in range(workers)])
    back = zarr.open_array(MongoStore(server_uri), path="series")[:]
    expected = sorted(
        (w * 1000 + i) for w in range(workers) for i in range(count) for _ in range(1 + (w + i) % 3)
    )
    assert back.shape[0] == len(expected)
    assert sorted(back[:, 0].tolist()) == expected
    assert (back == back[:, :1]).all()
    covered = sorted(r for regions in results for r in regions)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))
    for w, regions in enumerate(results):
        for i, (start, stop) in enumerate(regions):
            assert (back[start:stop] == w * 1000 + i).all()
    assert incomplete_appends(MongoStore(server_uri), "series") == []
