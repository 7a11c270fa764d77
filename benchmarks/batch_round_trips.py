"""Round trips of chunk batches and node creation (issue 13), printed per scenario.

Run ``python benchmarks/batch_round_trips.py`` (``--gridfs-mib 16 --memory``
for the full 16 × 16 MiB GridFS write; the default is smaller because the
wire server writes GridFS slowly, see benchmarks/memory_server.py). It starts
a mongoeco wire server on 127.0.0.1 (or uses ``--uri``) and prints, for each
scenario, the round trips PyMongo's command monitoring counted and the
commands behind them. Nothing is asserted here;
tests/storage/test_batch_round_trips.py asserts the bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.core.sync import sync

from mongozarr.monitoring import RoundTrips, monitored_store
from mongozarr.testing import WireServer

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.memory_server import MemoryWireServer

KiB, MiB = 1024, 1024 * 1024


def _database(base: str) -> str:
    """``base`` (a URI whose path names a database) pointing at a fresh database."""
    head, _, tail = base.partition("?")
    head = head.rsplit("/", 1)[0]
    return f"{head}/b{uuid.uuid4().hex[:10]}" + (f"?{tail}" if tail else "")


def _array(store: Any, name: str, chunks: int, chunk_bytes: int) -> zarr.Array:
    items = chunk_bytes // 2
    return zarr.create_array(
        store, name=name, shape=(chunks * items,), chunks=(items,), dtype="u2", fill_value=0
    )  # zarr's default compressor: chunks are (de)compressed in worker threads, as users see it


def _data(chunks: int, chunk_bytes: int) -> np.ndarray:
    # Random: compresses to about its size, so GridFS chunks stay above the threshold.
    return np.random.default_rng(0).integers(0, 65535, chunks * chunk_bytes // 2, dtype="u2")


def _measure(
    uri: str, act: Callable[..., Any], prepare: Callable[[Any], Any] | None = None, **options: Any
) -> RoundTrips:
    """Round trips of ``act(store)`` (``act(store, prepared)`` after ``prepare(store)``), on a new store."""
    store, counter = monitored_store(uri, **options)
    try:
        args = () if prepare is None else (prepare(store),)
        with counter.measure() as trips:
            act(store, *args)
        return trips
    finally:
        store.close()


def reads(uri: str, concurrency: int, chunks: int = 100, chunk_bytes: int = 64 * KiB) -> dict[str, RoundTrips]:
    """Open + read ``chunks`` chunks: on a fresh store, after a walk, after other reads."""
    writer, _ = monitored_store(uri)
    zarr.open_group(store=writer, mode="w")
    _array(writer, "big", chunks, chunk_bytes)[:] = _data(chunks, chunk_bytes)
    _array(writer, "other", 4, 4 * KiB)[:] = 1
    writer.close()
    results = {}
    with zarr.config.set({"async.concurrency": concurrency}):
        read = lambda s, *_: zarr.open_array(s, path="big", mode="r")[:]  # noqa: E731
        results["fresh"] = _measure(uri, read)
        results["after a walk"] = _measure(
            uri, read, lambda s: list(zarr.open_group(store=s, mode="r").members(max_depth=None))
        )
        results["after other reads"] = _measure(uri, read, lambda s: zarr.open_array(s, path="other")[:])
    return results


def writes(uri: str, concurrency: int, chunks: int = 100, chunk_bytes: int = 64 * KiB) -> RoundTrips:
    """Create an array and write ``chunks`` chunks of it."""
    zarr.open_group(store=monitored_store(uri)[0], mode="w").store.close()
    data = _data(chunks, chunk_bytes)
    with zarr.config.set({"async.concurrency": concurrency}):
        return _measure(uri, lambda s: _array(s, "big", chunks, chunk_bytes).__setitem__(slice(None), data))


def gridfs_writes(uri: str, chunks: int, chunk_bytes: int) -> RoundTrips:
    """Write ``chunks`` chunks above the inline threshold (to GridFS) at concurrency ``chunks``."""
    zarr.open_group(store=monitored_store(uri)[0], mode="w").store.close()
    data = _data(chunks, chunk_bytes)
    with zarr.config.set({"async.concurrency": max(chunks, 10)}):
        return _measure(
            uri,
            lambda s, array: array.__setitem__(slice(None), data),
            lambda s: _array(s, "big", chunks, chunk_bytes),
            inline_threshold=min(4 * MiB, chunk_bytes // 2),  # every chunk goes to GridFS
        )


def create_one(uri: str) -> RoundTrips:
    """Create one array with attributes under an existing root group."""
    zarr.open_group(store=monitored_store(uri)[0], mode="w").store.close()
    return _measure(
        uri,
        lambda s, _: zarr.create_array(s, name="a", shape=(10,), chunks=(5,), dtype="u1", attributes={"k": 1}),
        lambda s: zarr.open_group(store=s, mode="r"),
    )


def create_many(uri: str, count: int, how: str) -> RoundTrips:
    """Create ``count`` arrays with attributes concurrently: zarr's async API or ``create_hierarchy``."""
    zarr.open_group(store=monitored_store(uri)[0], mode="w").store.close()

    def act(store: Any) -> None:
        if how == "create_hierarchy":
            from zarr.core.group import GroupMetadata

            nodes = {f"a{i}": GroupMetadata(attributes={"i": i}) for i in range(count)}
            list(zarr.create_hierarchy(store=store, nodes=nodes))
        else:

            async def run() -> None:
                root = await zarr.api.asynchronous.open_group(store=store, mode="r+")
                await asyncio.gather(
                    *(
                        root.create_array(f"a{i}", shape=(10,), chunks=(5,), dtype="u1", attributes={"i": i})
                        for i in range(count)
                    )
                )

            sync(run())

    return _measure(uri, act)


def _show(label: str, trips: RoundTrips, bound: int | None = None) -> None:
    target = "" if bound is None else f"  (target ≤ {bound})"
    print(f"{label:<58} {trips.total:>4}  {trips.by_command}{target}")  # noqa: T201


@contextlib.contextmanager
def _server(uri: str | None, memory: bool) -> Iterator[str]:
    if uri:
        yield uri
        return
    with MemoryWireServer() if memory else WireServer() as server:
        yield server.uri("bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", help="a mongodb:// URI (default: a mongoeco wire server started here)")
    parser.add_argument("--gridfs-mib", type=int, default=1, help="size of each GridFS chunk in MiB (default 1)")
    parser.add_argument("--gridfs-chunks", type=int, default=16)
    parser.add_argument("--memory", action="store_true",
                        help="serve from mongoeco's memory engine (same round trips; GridFS far faster)")
    args = parser.parse_args()
    with _server(args.uri, args.memory) as base:
        for c in (10, 100):
            bound = math.ceil(100 / c) + 2
            for state, trips in reads(_database(base), c).items():
                _show(f"open + read 100 × 64 KiB, C={c}, {state}", trips, bound)
            _show(f"create + write 100 × 64 KiB, C={c}", writes(_database(base), c), bound)
        mib = args.gridfs_mib
        _show(
            f"write {args.gridfs_chunks} × {mib} MiB (GridFS)",
            gridfs_writes(_database(base), args.gridfs_chunks, mib * MiB),
        )
        _show("create one array with attributes", create_one(_database(base)), 2)
        _show("create 200 arrays with attributes (async gather)", create_many(_database(base), 200, "gather"))
        # zarr's create_hierarchy writes at most async.concurrency (default 10) documents at a time.
        _show("create 200 groups with attributes (create_hierarchy, C=10)", create_many(_database(base), 200, "create_hierarchy"))


if __name__ == "__main__":
    main()
