"""Round trips and time of one zarr walk of an unconsolidated hierarchy.

Usage (from a checkout, with the project's Python)::

    python -m benchmarks.walk 1000 5000 5000:20 --delay-ms 1

Each ``N`` or ``N:FANOUT`` is a hierarchy of N nodes: the root, FANOUT groups
with FANOUT subgroups each (default: the cube-root fan-out of
:func:`benchmarks.hierarchy.nodes`), arrays below. The documents are loaded
into the wire server's SQLite file before it starts; the walk is
``zarr.open_group(store, mode="r").members(max_depth=None)`` through a fresh
store, optionally through a proxy adding ``--delay-ms`` per round trip.
``--datatree`` also opens each with ``xr.open_datatree`` (not consolidated),
plain and inside ``store.snapshot()``, in the same run. The first row of
each tree is zarr's own floor: the same walk of the same metadata held in a
``MemoryStore`` (no I/O: what zarr spends building the objects).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import zarr
from zarr.core.buffer import cpu
from zarr.storage import MemoryStore

from benchmarks import hierarchy
from benchmarks.latency_proxy import LatencyProxy
from mongozarr.documents import render_metadata
from mongozarr.monitoring import monitored_store
from mongozarr.testing import WireServer


def _nodes(count: int, fanout: int | None) -> list[hierarchy.Node]:
    if fanout is None:
        return hierarchy.nodes(count)
    result: list[hierarchy.Node] = [("", "group", {})]
    level2 = []
    for i in range(fanout):
        result.append((f"g{i}", "group", {}))
        for j in range(fanout):
            level2.append(f"g{i}/s{j}")
            result.append((level2[-1], "group", {}))
    for k in range(max(0, count - len(result))):
        result.append((f"{level2[k % len(level2)]}/a{k}", "array", {hierarchy.ATTRIBUTE: k}))
    return result[:count]


def _memory_store(tree: list[hierarchy.Node]) -> MemoryStore:
    """The hierarchy's ``zarr.json`` keys, as MongoStore serves them, in a MemoryStore."""
    buffers = {}
    for doc in hierarchy.node_documents(tree):
        key = f"{doc['_id']}/zarr.json" if doc["_id"] else "zarr.json"
        buffers[key] = cpu.Buffer.from_bytes(render_metadata(doc, "zarr.json") or b"")
    return MemoryStore(buffers)


def _members(store: object) -> None:
    zarr.open_group(store=store, mode="r").members(max_depth=None)


def _datatree(store: object) -> None:
    import xarray as xr

    xr.open_datatree(store, engine="zarr", consolidated=False, zarr_format=3)


def _datatree_in_snapshot(store: object) -> None:
    with store.snapshot():  # type: ignore[attr-defined]
        _datatree(store)


def _walks(datatree: bool) -> list[tuple[str, Callable[[object], None]]]:
    walks = [("members(max_depth=None)", _members)]
    if datatree:
        walks += [("open_datatree", _datatree), ("open_datatree in snapshot()", _datatree_in_snapshot)]
    return walks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="+", help="N or N:FANOUT")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="added latency per round trip")
    parser.add_argument("--datatree", action="store_true", help="also xr.open_datatree, plain and in store.snapshot()")
    args = parser.parse_args(argv)
    shapes = []
    for size in args.sizes:
        count, _, fanout = size.partition(":")
        shapes.append((int(count), int(fanout) if fanout else None))
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mongozarr-walk-")))
        trees = {f"walk{i}": _nodes(count, fanout) for i, (count, fanout) in enumerate(shapes)}
        hierarchy.load_into_sqlite(
            directory, {(name, "zarr.nodes"): list(hierarchy.node_documents(t)) for name, t in trees.items()}
        )
        server = stack.enter_context(WireServer(directory))
        proxy = stack.enter_context(LatencyProxy(server.host, server.port, args.delay_ms)) if args.delay_ms else None
        print(f"{'nodes':>6} {'groups':>6} {'walk':<28} {'round trips':>11} {'seconds':>8}  by command")
        for name, tree in trees.items():
            uri = server.uri(name)
            groups = sum(1 for _, kind, _ in tree if kind == "group")
            start = time.perf_counter()
            _members(_memory_store(tree))
            seconds = time.perf_counter() - start
            print(f"{len(tree):>6} {groups:>6} {'MemoryStore (zarr alone)':<28} {0:>11} {seconds:>8.2f}")
            for label, walk in _walks(args.datatree):
                store, counter = monitored_store(proxy.uri(uri) if proxy else uri)
                start = time.perf_counter()
                with counter.measure() as trips:
                    walk(store)
                seconds = time.perf_counter() - start
                store.close()
                print(f"{len(tree):>6} {groups:>6} {label:<28} {trips.total:>11} {seconds:>8.2f}  {trips.by_command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
