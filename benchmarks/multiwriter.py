"""Many writers, one hierarchy: what a zarr LocalStore keeps versus MongoStore.

N processes start together (a barrier) and each does the same loop: open
the shared group and set one attribute key of its own (plain zarr,
``group.attrs[key] = value``), then open the shared array and append a few
rows of its own. Every writer re-opens before each write, as a careful user
would, so nothing is stale on purpose.

* LocalStore (a temporary directory): attributes are written by rewriting
  the whole ``zarr.json``, appends by zarr's ``Array.append`` (resize, then
  write).
* MongoStore (the mongoeco wire server on 127.0.0.1, or ``--uri``): the same
  plain zarr attribute writes, merged key by key by the store, and
  ``mongozarr.append``, which reserves each region atomically.

Afterwards it counts how many of the attribute keys and appended rows are
still there.

    python benchmarks/multiwriter.py [--writers 8] [--iterations 15] [--uri mongodb://host/db]
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import uuid
from collections import Counter
from typing import Any

import numpy as np
import zarr
from zarr.storage import LocalStore

import mongozarr
from mongozarr import MongoStore
from mongozarr.testing import WireServer

ROWS = (1, 2, 3)  # rows per append, cycled: most appends share a chunk
CHUNK = 4


def _store(target: str) -> Any:
    return MongoStore(target) if target.startswith(("mongodb://", "mongodb+srv://", "mongomock://")) else LocalStore(target)


def _setup(target: str) -> None:
    root = zarr.open_group(_store(target), mode="w")
    root.create_group("meta")
    root.create_array("series", shape=(0, 2), chunks=(CHUNK, 2), dtype="int64", fill_value=-1)


def _writer(target: str, worker: int, iterations: int, start: Any, results: Any) -> None:
    store = _store(target)
    atomic = isinstance(store, MongoStore)
    keys, rows = [], []
    start.wait()
    for i in range(iterations):
        key = f"w{worker}_{i}"
        zarr.open_group(store, path="meta", mode="r+").attrs[key] = i
        keys.append(key)
        n = ROWS[i % len(ROWS)]
        value = worker * 100_000 + i
        series = zarr.open_array(store, path="series", mode="r+")
        if atomic:
            mongozarr.append(series, np.full((n, 2), value))
        else:
            series.append(np.full((n, 2), value))
        rows.append((value, n))
    results.put((keys, rows))


def _run(target: str, writers: int, iterations: int) -> dict[str, int]:
    _setup(target)
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(writers)
    results = context.Queue()
    procs = [context.Process(target=_writer, args=(target, w, iterations, start, results)) for w in range(writers)]
    for proc in procs:
        proc.start()
    # A writer that dies would leave the parent waiting: bound the wait.
    reports = [results.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    store = _store(target)
    attrs = zarr.open_group(store, path="meta", mode="r").attrs.asdict()
    written_keys = [k for keys, _ in reports for k in keys]
    series = zarr.open_array(store, path="series", mode="r")
    present = Counter(series[:, 0].tolist())
    appended = [(value, n) for _, rows in reports for value, n in rows]
    return {
        "attribute updates written": len(written_keys),
        "attribute updates kept": sum(1 for k in written_keys if k in attrs),
        "rows appended": sum(n for _, n in appended),
        "rows kept": sum(min(present[value], n) for value, n in appended),
        "final array length": series.shape[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=15, help="attribute writes and appends per writer")
    parser.add_argument("--uri", help="a MongoDB URI (default: start a mongoeco wire server)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="multiwriter-") as directory:
        local = _run(directory, args.writers, args.iterations)
    if args.uri:
        mongo = _run(args.uri, args.writers, args.iterations)
        where = "given URI"
    else:
        with WireServer() as server:
            mongo = _run(server.uri("multiwriter" + uuid.uuid4().hex[:6]), args.writers, args.iterations)
        where = "mongoeco wire server"

    print(f"{args.writers} writers x {args.iterations} iterations (one attribute key + one append each)")
    print(f"{'':28} {'LocalStore':>12} {'MongoStore':>12}")
    for name in local:
        print(f"{name:28} {local[name]:>12} {mongo[name]:>12}")
    print(f"(MongoStore on the {where})")


if __name__ == "__main__":
    main()
