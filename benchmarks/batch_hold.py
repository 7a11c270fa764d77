"""Does holding a chunk batch until it fills cost throughput? Same run, hold on and off.

The chunk coalescer holds requests while a batch is in flight until the next
batch reaches zarr's concurrency (fewer round trips); write requests are held
from the first one on, since zarr encodes each chunk before it calls ``set``.
A per-event-loop-turn flush sends smaller batches sooner. This reads the same
arrays both ways through a latency proxy, alternating, and prints MB/s (median
of 3 reads), then overwrites them both ways (mean of 2 writes: the local
server writes slowly), then writes the 4 KiB array's first 32 chunks one
``set`` at a time (a lone writer: the hold must not make it wait).

Run: ``python benchmarks/batch_hold.py`` (starts its own wire server).
"""

from __future__ import annotations

import functools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import zarr

from benchmarks.latency_proxy import LatencyProxy
from mongozarr import MongoStore
from mongozarr.storage import store_batches
from mongozarr.testing import WireServer

_SIZES = ((4096, 256), (65536, 64))  # chunk bytes, chunks
_HOLD = store_batches.Coalescer


def _per_turn(*args: Any, fill: Any = None, **kwargs: Any) -> Any:
    """The coalescer without its fill target: each loop turn's requests go together."""
    return _HOLD(*args, **kwargs)


def _read_mb_per_s(uri: str, path: str, nbytes: int) -> float:
    times = []
    for _ in range(3):
        store = MongoStore(uri)
        start = time.perf_counter()
        zarr.open_array(store, path=path, mode="r")[:]
        times.append(time.perf_counter() - start)
        store.close()
    return nbytes / 1e6 / statistics.median(times)


def _write_mb_per_s(uri: str, path: str, values: np.ndarray) -> float:
    store = MongoStore(uri)
    try:
        array = zarr.open_array(store, path=path, mode="r+")
        start = time.perf_counter()
        array[:] = values
        return values.nbytes / 1e6 / (time.perf_counter() - start)
    finally:
        store.close()


def _one_at_a_time_mb_per_s(uri: str, path: str, values: np.ndarray, items: int, chunks: int = 32) -> float:
    store = MongoStore(uri)
    try:
        array = zarr.open_array(store, path=path, mode="r+")
        start = time.perf_counter()
        for i in range(chunks):
            array[i * items : (i + 1) * items] = values[i * items : (i + 1) * items]
        return chunks * items * values.itemsize / 1e6 / (time.perf_counter() - start)
    finally:
        store.close()


def _compare(measure: Callable[[], float]) -> str:
    """``measure()`` with the hold and with per-turn flushes, alternating: their mean MB/s."""
    figures: dict[str, list[float]] = {"hold": [], "per-turn": []}
    try:
        for mode in ("hold", "per-turn", "hold", "per-turn"):
            store_batches.Coalescer = _HOLD if mode == "hold" else _per_turn  # type: ignore[misc]
            figures[mode].append(measure())
    finally:
        store_batches.Coalescer = _HOLD  # type: ignore[misc]
    return "".join(f"  {mode} {statistics.mean(v):5.1f} MB/s" for mode, v in figures.items())


def main() -> None:
    print("command: python benchmarks/batch_hold.py")
    with WireServer() as server:
        uri = server.uri("batch_hold")
        writer = MongoStore(uri)
        data = {}
        for size, count in _SIZES:
            values = np.random.default_rng(0).random(count * size // 8)  # incompressible
            array = zarr.create_array(writer, name=f"a{size}", shape=values.shape, chunks=(size // 8,),
                                      dtype="f8", overwrite=True)
            array[:] = values
            data[size] = values
        writer.close()
        for delay in (0, 10):
            with LatencyProxy(server.host, server.port, delay) as proxy:
                target = proxy.uri(uri)
                for size, count in _SIZES:
                    read = functools.partial(_read_mb_per_s, target, f"a{size}", size * count)
                    figures = _compare(read)
                    print(f"read  +{delay:>2} ms  {size // 1024:>3} KiB x {count:<4}{figures}")
                for size, count in _SIZES:
                    write = functools.partial(_write_mb_per_s, target, f"a{size}", data[size])
                    figures = _compare(write)
                    print(f"write +{delay:>2} ms  {size // 1024:>3} KiB x {count:<4}{figures}")
                size = _SIZES[0][0]
                lone = functools.partial(_one_at_a_time_mb_per_s, target, f"a{size}", data[size], size // 8)
                print(f"write +{delay:>2} ms  {size // 1024:>3} KiB x 32 one at a time{_compare(lone)}")

if __name__ == "__main__":
    main()
