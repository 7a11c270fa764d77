"""The child side of the peer benchmark: one store, every operation, a JSON report.

``python driver.py SPEC`` runs in the interpreter of the store under test
(mongozarr's own, or a virtual environment built for zarr 2.18 or Icechunk),
so this module imports only the standard library at the top and each store's
packages inside its own code. ``SPEC`` is a JSON object::

    {"store": "mongozarr" | "zarr2" | "icechunk",
     "uri": "mongodb://host:port/",      # MongoDB stores: server (or latency proxy)
     "database": "run_x",                 # MongoDB stores: base database name
     "directory": "/tmp/...",             # Icechunk: where its repositories go
     "chunks": 100, "nodes": 200, "concurrency": 10, "writers": 8, "keys": 5,
     "subject": "mouse-3", "seed": 0}

The last line printed is ``{"versions": {...}, "results": {operation: {"seconds",
"round_trips", "by_command", ...}}}``. Round trips are counted with PyMongo command
monitoring inside this process (and inside each writer process); Icechunk on a
local directory makes none. Every operation checks its own outcome (data read
back equal, node counts, search hits) and fails loudly otherwise.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHUNK = 64 * 1024
#: The attribute every array carries, searched for by the ``search`` operation.
ATTRIBUTE = "subject"
SUBJECTS = 10
#: Driver and handshake commands, not sent on behalf of the measured code.
CONNECTION_COMMANDS = frozenset(
    (
        "hello",
        "ismaster",
        "ping",
        "endsessions",
        "saslstart",
        "saslcontinue",
        "authenticate",
        "getnonce",
        "buildinfo",
    )
)
OPERATIONS = ("write", "read", "create", "hierarchy", "walk", "search", "writers")


# ------------------------------------------------------------ round trips


class RoundTripCounter:
    """Counts PyMongo commands by name (a command listener, built lazily)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def listener(self) -> Any:
        """A ``pymongo.monitoring.CommandListener`` reporting to this counter."""
        from pymongo import monitoring

        counter = self

        class _Listener(monitoring.CommandListener):
            def started(self, event: Any) -> None:
                if event.command_name.lower() not in CONNECTION_COMMANDS:
                    with counter._lock:
                        counter.counts[event.command_name] += 1

            def succeeded(self, event: Any) -> None:
                pass

            def failed(self, event: Any) -> None:
                pass

        return _Listener()

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.counts)


@contextmanager
def measured(
    results: dict[str, Any], operation: str, counter: RoundTripCounter | None
) -> Iterator[dict[str, Any]]:
    """Time the block and count its round trips into ``results[operation]``."""
    before = counter.snapshot() if counter is not None else Counter()
    entry: dict[str, Any] = {}
    start = time.perf_counter()
    yield entry
    entry["seconds"] = time.perf_counter() - start
    if counter is not None:
        delta = counter.snapshot()
        delta.subtract(before)
        entry["by_command"] = {name: n for name, n in sorted(delta.items()) if n}
        entry["round_trips"] = sum(entry["by_command"].values())
    results[operation] = entry


# ------------------------------------------------------------ the stores


class Peer:
    """One store under test: how to open it for writing and reading.

    ``connect`` runs outside the timed block (a MongoDB connection handshake);
    ``begin``/``end`` run inside it (Icechunk opens its repository and commits).
    """

    zarr_format = 3
    counter: RoundTripCounter | None = None

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def versions(self) -> dict[str, str]:
        import numpy
        import zarr

        return {
            "zarr": zarr.__version__,
            "numpy": numpy.__version__,
            "python": sys.version.split()[0],
        }

    def connect(self, name: str) -> Any:
        raise NotImplementedError

    def begin(self, handle: Any, write: bool) -> Any:
        return handle

    def end(self, store: Any, write: bool, message: str) -> None:
        pass

    def search(self, handle: Any, value: str) -> list[str]:
        """Paths of the arrays whose ``subject`` is ``value``: walk and filter, as a user would."""
        store = self.begin(handle, write=False)
        return sorted(
            path
            for path, node_type, attrs in walk_nodes(self, store)
            if node_type == "array" and attrs.get(ATTRIBUTE) == value
        )


class MongozarrPeer(Peer):
    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.counter = RoundTripCounter()

    def versions(self) -> dict[str, str]:
        import pymongo

        import mongozarr

        return {
            **super().versions(),
            "mongozarr": mongozarr.__version__,
            "pymongo": pymongo.version,
        }

    def connect(self, name: str) -> Any:
        from zarr.core.sync import sync

        from mongozarr import MongoStore

        assert self.counter is not None
        store = MongoStore(
            self.spec["uri"],
            database=f"{self.spec['database']}_{name}",
            client_options={"event_listeners": [self.counter.listener()]},
        )

        async def ping() -> None:  # the store's client belongs to zarr's loop: ping from there
            await store.database().command("ping")

        sync(ping())  # the handshake is not the operation
        return store

    def search(self, handle: Any, value: str) -> list[str]:
        """One query: :meth:`mongozarr.Tree.find`."""
        from mongozarr import open_tree

        return sorted(
            node.path for node in open_tree(handle).find({ATTRIBUTE: value}, node_type="array")
        )


class Zarr2Peer(Peer):
    zarr_format = 2

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.counter = RoundTripCounter()

    def versions(self) -> dict[str, str]:
        import pymongo

        return {**super().versions(), "pymongo": pymongo.version}

    def connect(self, name: str) -> Any:
        from zarr.storage import MongoDBStore

        assert self.counter is not None
        store = MongoDBStore(
            database=f"{self.spec['database']}_{name}",
            collection="zarr_collection",
            host=self.spec["uri"],
            event_listeners=[self.counter.listener()],
        )
        store.client.admin.command("ping")
        return store


class IcechunkPeer(Peer):
    def versions(self) -> dict[str, str]:
        import icechunk

        return {**super().versions(), "icechunk": icechunk.__version__}

    def connect(self, name: str) -> Any:
        import icechunk

        path = f"{self.spec['directory']}/{name}"
        storage = icechunk.local_filesystem_storage(path)
        if not icechunk.Repository.exists(storage):
            icechunk.Repository.create(storage)
        return storage

    def begin(self, handle: Any, write: bool) -> Any:
        import icechunk

        repository = icechunk.Repository.open(handle)
        session = (
            repository.writable_session("main")
            if write
            else repository.readonly_session(branch="main")
        )
        return session.store

    def end(self, store: Any, write: bool, message: str) -> None:
        if write:
            store.session.commit(message)


PEERS: dict[str, type[Peer]] = {
    "mongozarr": MongozarrPeer,
    "zarr2": Zarr2Peer,
    "icechunk": IcechunkPeer,
}


# ------------------------------------------------------------ operations


def hierarchy(nodes: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, node type, attributes) for ``nodes`` nodes: the root, groups, arrays spread over them."""
    groups = max(1, nodes // 20)
    result: list[tuple[str, str, dict[str, Any]]] = [("", "group", {"title": "peers benchmark"})]
    result += [(f"g{g}", "group", {"kind": "session", "index": g}) for g in range(groups)]
    arrays = nodes - len(result)
    result += [
        (f"g{i % groups}/a{i}", "array", {ATTRIBUTE: f"mouse-{i % SUBJECTS}", "index": i})
        for i in range(arrays)
    ]
    return result


def create_nodes(peer: Peer, store: Any, nodes: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Create every node with its attributes through the zarr API of the peer's zarr."""
    import zarr

    root = (
        zarr.open_group(store=store, mode="w")
        if peer.zarr_format == 2
        else zarr.open_group(store=store, mode="w", attributes=nodes[0][2])
    )
    if peer.zarr_format == 2:
        root.attrs.update(nodes[0][2])
    groups: dict[str, Any] = {"": root}
    for path, node_type, attrs in nodes[1:]:
        parent, _, name = path.rpartition("/")
        if node_type == "group":
            if peer.zarr_format == 2:
                groups[path] = groups[parent].create_group(name)
                groups[path].attrs.update(attrs)
            else:
                groups[path] = groups[parent].create_group(name, attributes=attrs)
        elif peer.zarr_format == 2:
            groups[parent].zeros(name, shape=(8,), chunks=(4,), dtype="u1").attrs.update(attrs)
        else:
            groups[parent].create_array(
                name, shape=(8,), chunks=(4,), dtype="uint8", attributes=attrs
            )


def create_at_once(store: Any, nodes: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Create every node with its attributes in one ``zarr.create_hierarchy`` call (zarr 3 only)."""
    import dataclasses

    import zarr
    from zarr.core.group import GroupMetadata

    array = zarr.create_array(zarr.storage.MemoryStore(), shape=(8,), chunks=(4,), dtype="uint8").metadata
    metadata = {
        path: GroupMetadata(attributes=attrs) if node_type == "group" else dataclasses.replace(array, attributes=attrs)
        for path, node_type, attrs in nodes
    }
    list(zarr.create_hierarchy(store=store, nodes=metadata))  # a fresh location: nothing to overwrite


def walk_nodes(peer: Peer, store: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """Open the root and read every node's metadata and attributes, not consolidated."""
    import zarr

    found = []
    if peer.zarr_format == 2:
        # zarr 2 has no members(max_depth=None): recurse through groups() and arrays().
        def visit(group: Any) -> None:
            for _, child in group.groups():
                found.append((child.path, "group", dict(child.attrs)))
                visit(child)
            for _, array in group.arrays():
                found.append((array.path, "array", dict(array.attrs)))

        visit(zarr.open_group(store=store, mode="r"))
    else:
        root = zarr.open_group(store=store, mode="r", use_consolidated=False)
        for path, node in root.members(max_depth=None):
            found.append(
                (path, "array" if isinstance(node, zarr.Array) else "group", dict(node.attrs))
            )
    return found


def _data(spec: dict[str, Any]) -> Any:
    import numpy as np

    return np.random.default_rng(spec["seed"]).integers(
        0, 255, spec["chunks"] * CHUNK, dtype="uint8"
    )


def run_chunks(peer: Peer, results: dict[str, Any]) -> None:
    import zarr

    spec, data = peer.spec, _data(peer.spec)
    shape, chunks = (spec["chunks"] * CHUNK,), (CHUNK,)
    handle = peer.connect("chunks")
    with measured(results, "write", peer.counter):
        store = peer.begin(handle, write=True)
        if peer.zarr_format == 2:
            array = zarr.create(
                store=store,
                path="chunks",
                shape=shape,
                chunks=chunks,
                dtype="u1",
                compressor=None,
                fill_value=0,
            )
        else:
            array = zarr.create_array(
                store,
                name="chunks",
                shape=shape,
                chunks=chunks,
                dtype="uint8",
                compressors=None,
                fill_value=0,
            )
        array[:] = data
        peer.end(store, True, "write chunks")
    handle = peer.connect("chunks")  # a fresh client: nothing cached from the write
    with measured(results, "read", peer.counter) as entry:
        store = peer.begin(handle, write=False)
        if peer.zarr_format == 2:  # zarr 2 reads one chunk at a time
            read = zarr.open_array(store=store, path="chunks", mode="r")[:]
            entry["concurrency"] = 1
        else:
            with zarr.config.set({"async.concurrency": spec["concurrency"]}):
                read = zarr.open_array(store, path="chunks", mode="r")[:]
            entry["concurrency"] = spec["concurrency"]
    if not (read == data).all():
        raise AssertionError("chunks read back differ from those written")


def run_nodes(peer: Peer, results: dict[str, Any]) -> None:
    spec = peer.spec
    nodes = hierarchy(spec["nodes"])
    handle = peer.connect("nodes")
    with measured(results, "create", peer.counter) as entry:
        store = peer.begin(handle, write=True)
        create_nodes(peer, store, nodes)
        peer.end(store, True, "create nodes")
    entry["nodes"] = len(nodes)
    if peer.zarr_format == 3:
        handle = peer.connect("hierarchy")
        with measured(results, "hierarchy", peer.counter) as entry:
            store = peer.begin(handle, write=True)
            create_at_once(store, nodes)
            peer.end(store, True, "create hierarchy")
        entry["nodes"] = len(nodes)
    handle = peer.connect("nodes")
    with measured(results, "walk", peer.counter) as entry:
        walked = walk_nodes(peer, peer.begin(handle, write=False))
    entry["nodes"] = len(walked) + 1
    if sorted(p for p, _, _ in walked) != sorted(p for p, _, _ in nodes[1:]):
        raise AssertionError(
            f"walk found {len(walked)} nodes below the root, expected {len(nodes) - 1}"
        )
    handle = peer.connect("nodes")
    with measured(results, "search", peer.counter) as entry:
        found = peer.search(handle, spec["subject"])
    expected = sorted(
        p for p, t, a in nodes if t == "array" and a.get(ATTRIBUTE) == spec["subject"]
    )
    if found != expected:
        raise AssertionError(f"search found {found}, expected {expected}")
    entry["found"] = len(found)


def _writer(spec: dict[str, Any], worker: int, start: Any, reports: Any) -> None:
    """One writer process: ``keys`` times, open the shared group and set one key of its own."""
    import zarr

    peer = PEERS[spec["store"]](spec)
    handle = peer.connect("writers")
    conflicts, written = 0, 0
    start.wait()
    began = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process on the machine
    for i in range(spec["keys"]):
        store = peer.begin(handle, write=True)
        zarr.open_group(store=store, path="meta", mode="r+").attrs[f"w{worker}_{i}"] = i
        try:
            peer.end(store, True, f"writer {worker} key {i}")
            written += 1
        except Exception as error:  # icechunk.ConflictError; its class lives in the peer's venv
            if type(error).__name__ != "ConflictError":
                raise
            conflicts += 1
    counts = dict(peer.counter.snapshot()) if peer.counter is not None else None
    reports.put(
        {
            "began": began,
            "ended": time.monotonic(),
            "written": written,
            "conflicts": conflicts,
            "counts": counts,
        }
    )


def run_writers(peer: Peer, results: dict[str, Any]) -> None:
    import zarr

    spec = peer.spec
    handle = peer.connect("writers")
    store = peer.begin(handle, write=True)
    zarr.open_group(store=store, mode="w").create_group("meta")
    peer.end(store, True, "set up writers")
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(spec["writers"])
    queue = context.Queue()
    processes = [
        context.Process(target=_writer, args=(spec, w, start, queue))
        for w in range(spec["writers"])
    ]
    for process in processes:
        process.start()
    # A writer that dies would leave us waiting forever: bound the wait, then report it.
    reports = [queue.get(timeout=600) for _ in processes]
    for process in processes:
        process.join()
    queue.close()
    queue.join_thread()
    attrs = dict(
        zarr.open_group(store=peer.begin(handle, write=False), path="meta", mode="r").attrs
    )
    attempted = spec["writers"] * spec["keys"]
    kept = sum(
        1
        for w in range(spec["writers"])
        for i in range(spec["keys"])
        if attrs.get(f"w{w}_{i}") == i
    )
    conflicts = sum(r["conflicts"] for r in reports)
    entry: dict[str, Any] = {
        "seconds": max(r["ended"] for r in reports) - min(r["began"] for r in reports),
        "attempted": attempted,
        "kept": kept,
        "conflicts": conflicts,
        # Neither kept nor refused with an error: overwritten by another writer without a word.
        "lost": attempted - kept - conflicts,
    }
    if peer.counter is not None:
        total: Counter[str] = Counter()
        for report in reports:
            total.update(report["counts"] or {})
        entry["by_command"] = dict(sorted(total.items()))
        entry["round_trips"] = sum(total.values())
    results["writers"] = entry


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    peer = PEERS[spec["store"]](spec)
    results: dict[str, Any] = {}
    run_chunks(peer, results)
    run_nodes(peer, results)
    run_writers(peer, results)
    print(json.dumps({"versions": peer.versions(), "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
