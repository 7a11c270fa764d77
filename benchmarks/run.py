"""mongozarr benchmarks: round trips, throughput under latency, metadata at scale.

Run ``python benchmarks/run.py`` (``--quick`` for a smoke run). It starts a
mongoeco wire server on 127.0.0.1 (or uses ``--uri`` to reach a real MongoDB),
puts latency-injecting proxies in front of it, and prints three tables:

1. round trips per zarr operation (PyMongo command monitoring), MongoStore
   against the one-document-per-key baseline (the zarr v2 ``MongoDBStore``);
2. chunk read throughput for 4 KiB ... 16 MiB chunks at 0, 1 and 10 ms round
   trip, for MongoStore, the baseline, zarr's MemoryStore and LocalStore;
3. opening and walking large hierarchies, and a query over many nodes with and
   without an index.

``--peers`` prints a fourth table instead: the same operations through real
peers, in the same run (zarr 2.18's ``MongoDBStore`` against the same server and
proxies, and Icechunk on a local directory), each from a venv of its own that the
benchmark builds (see ``benchmarks/peers/``). With ``--save`` it replaces only the
peers section of the file.

Figures are printed, never asserted: they depend on the machine and the server.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pymongo
import zarr
from rich.console import Console
from rich.table import Table
from zarr.core.sync import sync
from zarr.storage import LocalStore, MemoryStore

import mongozarr
from benchmarks import hierarchy
from benchmarks.baseline_store import MAX_VALUE_BYTES, BaselineStore
from benchmarks.latency_proxy import LatencyProxy
from benchmarks.peers import PeerSettings, peers_table, run_peers, versions_line
from mongozarr import MongoStore
from mongozarr.documents import escape_key
from mongozarr.monitoring import CommandCounter, RoundTrips, monitored_store
from mongozarr.testing import WireServer

KiB, MiB = 1024, 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """How big each benchmark is."""

    groups: int  # round trips: groups under the root ...
    arrays_per_group: int  # ... each with this many arrays
    chunks: int  # round trips: N chunks read and written
    concurrencies: tuple[int, ...]
    sizes: tuple[tuple[int, int], ...]  # throughput: (chunk bytes, number of chunks)
    delays_ms: tuple[float, ...]
    repeats: int
    walk_nodes: tuple[int, ...]
    walk_delays_ms: tuple[float, ...]
    find_nodes: tuple[int, ...]


FULL = Settings(
    groups=4,
    arrays_per_group=5,
    chunks=100,
    concurrencies=(10, 100),
    # Few chunks for big sizes: the wire server writes slowly; totals stay a few MiB.
    sizes=((4 * KiB, 256), (64 * KiB, 64), (1 * MiB, 8), (16 * MiB, 1)),
    delays_ms=(0, 1, 10),
    repeats=3,
    walk_nodes=(1_000, 10_000),
    # One latency only: a 10,000-node walk by the baseline takes ~50 s on the wire server.
    walk_delays_ms=(1,),
    find_nodes=(10_000, 100_000),
)
QUICK = Settings(
    groups=2,
    arrays_per_group=2,
    chunks=20,
    concurrencies=(10, 100),
    sizes=((4 * KiB, 16), (64 * KiB, 4)),
    delays_ms=(0, 1),
    repeats=1,
    walk_nodes=(100,),
    walk_delays_ms=(0,),
    find_nodes=(1_000,),
)


# ------------------------------------------------------------------ servers


class Backend:
    """Where the MongoDB databases live, and latency proxies in front of it."""

    def __init__(self, base_uri: str, description: str) -> None:
        self.base_uri = base_uri
        self.description = description
        parts = urlsplit(base_uri)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 27017
        self.proxies: dict[float, LatencyProxy] = {}

    def uri(self, database: str, delay_ms: float | None = None) -> str:
        """A URI for ``database``, directly or through the proxy adding ``delay_ms``."""
        parts = urlsplit(self.base_uri)
        uri = urlunsplit(parts._replace(path="/" + database))
        return uri if delay_ms is None else self.proxies[delay_ms].uri(uri)

    def client(self) -> pymongo.MongoClient[Any]:
        """A synchronous client for setup and checks (not measured)."""
        return pymongo.MongoClient(self.base_uri)


@contextmanager
def start_backend(
    uri: str | None, preload: dict[tuple[str, str], list[dict[str, Any]]], delays: set[float], run_id: str
) -> Iterator[Backend]:
    """Start (or reach) the server, load ``preload``, start one proxy per delay.

    On a server given by ``uri``, every database named ``<run_id>_*`` is dropped at the end.
    """
    with ExitStack() as stack:
        if uri is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mongozarr-bench-")))
            hierarchy.load_into_sqlite(directory, preload)
            server = stack.enter_context(WireServer(directory))
            import mongoeco

            backend = Backend(server.uri("admin"), f"mongoeco {mongoeco.__version__} wire server (SQLite engine), 127.0.0.1:{server.port}")
        else:
            backend = Backend(uri, f"MongoDB at {urlsplit(uri).hostname}:{urlsplit(uri).port or 27017}")
            with backend.client() as client:
                backend.description += f" (server {client.server_info()['version']})"
                for (database, collection), documents in preload.items():
                    client[database].drop_collection(collection)
                    for start in range(0, len(documents), 10_000):
                        client[database][collection].insert_many(documents[start : start + 10_000], ordered=False)
        with backend.client() as client:
            for (database, collection), documents in preload.items():
                found = client[database][collection].estimated_document_count()
                if found != len(documents):
                    raise RuntimeError(f"preloaded {len(documents)} documents into {database}.{collection}, server has {found}")
        for delay in sorted(delays):
            backend.proxies[delay] = stack.enter_context(LatencyProxy(backend.host, backend.port, delay))
        try:
            yield backend
        finally:
            if uri is not None:
                with backend.client() as client:
                    for database in client.list_database_names():
                        if database.startswith(run_id + "_"):
                            client.drop_database(database)


def ping_ms(backend: Backend, delay: float, count: int = 30) -> float:
    """The median round trip of a ``ping`` through the proxy adding ``delay``."""
    with pymongo.MongoClient(backend.uri("admin", delay)) as client:
        client.admin.command("ping")
        times = []
        for _ in range(count):
            start = time.perf_counter()
            client.admin.command("ping")
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


# ------------------------------------------------------------------ stores


def baseline_store(uri: str, counter: CommandCounter | None = None) -> BaselineStore:
    """The baseline store on ``uri``, reporting to ``counter`` if given."""
    database = urlsplit(uri).path.lstrip("/")
    listeners = [counter] if counter is not None else []
    return BaselineStore(uri, database=database, client_options={"event_listeners": listeners})


CONSOLIDATED = "MongoStore(consolidated=True)"


def make_store(kind: str, uri: str, counter: CommandCounter | None = None) -> Any:
    """A store of ``kind`` (MongoStore, CONSOLIDATED or baseline) on ``uri``."""
    if kind in ("MongoStore", CONSOLIDATED):
        return monitored_store(uri, counter=counter or CommandCounter(), consolidated=kind == CONSOLIDATED)[0]
    return baseline_store(uri, counter)


async def _ping(store: Any) -> None:
    await store.database().command("ping")


def warm(store: Any) -> None:
    """Open the store's connection on zarr's loop, so timings exclude the handshake."""
    sync(_ping(store))


STORE_KINDS = ("MongoStore", "baseline")


# ------------------------------------------------------- 1. round trips


def _build_hierarchy(store: Any, settings: Settings) -> None:
    root = zarr.open_group(store=store, mode="w", attributes={"title": "benchmark"})
    for g in range(settings.groups):
        group = root.create_group(f"g{g}", attributes={"kind": "session"})
        for a in range(settings.arrays_per_group):
            group.create_array(
                f"a{a}", shape=(8,), chunks=(4,), dtype="uint8",
                attributes={hierarchy.ATTRIBUTE: f"mouse-{a}"},
            )


async def _query_mongostore(store: MongoStore, value: str) -> list[str]:
    query = {f"attributes.{escape_key(hierarchy.ATTRIBUTE)}": value, "node_type": "array"}
    docs = await store.database()[store.nodes_collection_name].find(query, {"_id": 1}).to_list()
    return sorted(d["_id"] for d in docs)


async def _query_baseline(store: BaselineStore, value: str) -> list[str]:
    # No query language over values: list every key, read every zarr.json, filter here.
    keys = [k async for k in store.list() if k.rpartition("/")[2] == "zarr.json"]
    values = await asyncio.gather(*(store.get(k) for k in keys))
    found = []
    for key, buffer in zip(keys, values, strict=True):
        content = json.loads(buffer.to_bytes()) if buffer is not None else {}
        if content.get("node_type") == "array" and content.get("attributes", {}).get(hierarchy.ATTRIBUTE) == value:
            found.append(key.rpartition("/")[0])
    return sorted(found)


def round_trip_rows(backend: Backend, settings: Settings, run_id: str) -> list[tuple[str, dict[str, RoundTrips], str]]:
    """(operation, {store kind: trips}, target) for each measured operation."""
    results: dict[str, dict[str, RoundTrips]] = {}
    targets: dict[str, str] = {}
    n = settings.chunks
    data = np.random.default_rng(0).integers(0, 255, n * 4 * KiB, dtype="uint8")
    for kind in STORE_KINDS:
        uri = backend.uri(f"{run_id}_rt_{kind.lower()}")
        counter = CommandCounter()
        store = make_store(kind, uri, counter)
        warm(store)

        def measure(
            operation: str, target: str, action: Callable[[Any], Any], fresh: bool = False, as_kind: str = kind
        ) -> Any:
            subject = make_store(as_kind, uri, counter) if fresh else store
            if fresh:
                warm(subject)
            with counter.measure() as trips:
                value = action(subject)
            results.setdefault(operation, {})[kind] = trips
            targets[operation] = target
            return value

        nodes = 1 + settings.groups * (1 + settings.arrays_per_group)
        measure(f"create a hierarchy ({nodes} nodes)", "", lambda s: _build_hierarchy(s, settings))
        def walk(s: Any) -> list[Any]:
            return list(zarr.open_group(store=s, mode="r").members(max_depth=None))

        members = measure("open + walk it (open_group, members(max_depth=None))", "≤ 2", walk, fresh=True)
        assert len(members) == nodes - 1, (kind, len(members))
        for c in settings.concurrencies:
            target = f"≤ {math.ceil(n / c) + 2}"
            path = f"chunks_c{c}"
            zarr.create_array(store, name=path, shape=(n * 4 * KiB,), chunks=(4 * KiB,), dtype="uint8", compressors=None, fill_value=0)
            with zarr.config.set({"async.concurrency": c}):
                measure(f"open array + write {n} × 4 KiB chunks, concurrency {c}", target,
                        lambda s: zarr.open_array(s, path=path, mode="r+").__setitem__(slice(None), data), fresh=True)
                read = measure(f"open array + read {n} × 4 KiB chunks, concurrency {c}", target,
                               lambda s: zarr.open_array(s, path=path, mode="r")[:], fresh=True)
            assert np.array_equal(read, data), kind
        group = zarr.open_group(store=store, path="g0", mode="r+")
        measure("one attribute update (group.attrs[k] = v)", "1", lambda s: group.attrs.__setitem__("note", "updated"))
        found = measure(
            f"one query (arrays with {hierarchy.ATTRIBUTE} = mouse-1)", "1",
            lambda s: sync(_query_mongostore(s, "mouse-1") if kind == "MongoStore" else _query_baseline(s, "mouse-1")),
        )
        assert found == [f"g{g}/a1" for g in range(settings.groups)], (kind, found)
        if kind == "MongoStore":
            walked = measure(f"open + walk it with {CONSOLIDATED}", "≤ 2", walk, fresh=True, as_kind=CONSOLIDATED)
            assert len(walked) == len(members) + len(settings.concurrencies), len(walked)
        measure("zarr.consolidate_metadata(store)", "", lambda s: zarr.consolidate_metadata(s))
        # The baseline now reads a copy that goes stale; MongoStore builds it from live documents.
        walked = measure("open + walk it after zarr.consolidate_metadata", "≤ 2", walk, fresh=True)
        assert len(walked) == len(members) + len(settings.concurrencies), (kind, len(walked))
    return [(op, by_kind, targets[op]) for op, by_kind in results.items()]


def _commands(trips: RoundTrips) -> str:
    return ", ".join(f"{name} {count}" for name, count in trips.by_command.items())


def round_trip_table(rows: list[tuple[str, dict[str, RoundTrips], str]]) -> Table:
    table = Table(title="1. Round trips per operation (PyMongo command monitoring)", title_justify="left")
    table.add_column("operation")
    table.add_column("MongoStore", justify="right")
    table.add_column("MongoStore commands")
    table.add_column("baseline", justify="right")
    table.add_column("target (issue 5)", justify="right")
    for operation, by_kind, target in rows:
        mongo = by_kind["MongoStore"]
        base = by_kind.get("baseline")
        table.add_row(operation, str(mongo.total), _commands(mongo), "n/a" if base is None else str(base.total), target)
    return table


# ------------------------------------------------------- 2. throughput


@dataclass
class Rate:
    seconds: float
    nbytes: int
    chunks: int

    @property
    def mb_per_s(self) -> float:
        return self.nbytes / self.seconds / 1e6

    @property
    def chunks_per_s(self) -> float:
        return self.chunks / self.seconds


def _timed_read(store: Any, path: str, repeats: int) -> float:
    """Median seconds to open the array and read it whole (after one untimed read)."""
    zarr.open_array(store, path=path, mode="r")[:]  # warm: connections, imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        zarr.open_array(store, path=path, mode="r")[:]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _write(store: Any, path: str, chunk: int, count: int, data: np.ndarray) -> float:
    array = zarr.create_array(store, name=path, shape=(chunk * count,), chunks=(chunk,), dtype="uint8", compressors=None, fill_value=0, overwrite=True)
    start = time.perf_counter()
    array[:] = data
    return time.perf_counter() - start


SEQUENTIAL = "baseline, 1 get at a time"
THROUGHPUT_STORES = ("MongoStore", "baseline", SEQUENTIAL, "MemoryStore", "LocalStore")


def throughput(backend: Backend, settings: Settings, run_id: str, scratch: Path) -> dict[tuple[int, str], dict[Any, Rate | None]]:
    """{(chunk bytes, store): {delay or "write": Rate, or None if it cannot store it}}."""
    results: dict[tuple[int, str], dict[Any, Rate | None]] = {}
    rng = np.random.default_rng(1)
    for chunk, count in settings.sizes:
        data = rng.integers(0, 255, chunk * count, dtype="uint8")
        nbytes = chunk * count
        path = f"t{chunk}"
        for kind in THROUGHPUT_STORES:
            row = results.setdefault((chunk, kind), {})
            if kind in (*STORE_KINDS, SEQUENTIAL):
                store_kind = "MongoStore" if kind == "MongoStore" else "baseline"
                if store_kind == "baseline" and chunk > MAX_VALUE_BYTES:
                    row.update({d: None for d in (*settings.delays_ms, "write")})
                    continue
                database = f"{run_id}_tp_{store_kind.lower()}_{chunk}"
                if kind != SEQUENTIAL:  # that one reads what "baseline" wrote
                    writer = make_store(store_kind, backend.uri(database, 0))
                    warm(writer)
                    row["write"] = Rate(_write(writer, path, chunk, count, data), nbytes, count)
                # zarr v2 read chunks one key at a time; zarr 3 overlaps async.concurrency requests.
                concurrency = 1 if kind == SEQUENTIAL else zarr.config.get("async.concurrency")
                for delay in settings.delays_ms:
                    reader = make_store(store_kind, backend.uri(database, delay))
                    warm(reader)
                    with zarr.config.set({"async.concurrency": concurrency}):
                        row[delay] = Rate(_timed_read(reader, path, settings.repeats), nbytes, count)
            else:
                store = MemoryStore() if kind == "MemoryStore" else LocalStore(scratch / f"local{chunk}")
                row["write"] = Rate(_write(store, path, chunk, count, data), nbytes, count)
                rate = Rate(_timed_read(store, path, settings.repeats), nbytes, count)
                row.update({d: rate for d in settings.delays_ms})  # no network: one figure for all
            check = zarr.open_array(reader if kind in (*STORE_KINDS, SEQUENTIAL) else store, path=path, mode="r")[:]
            assert np.array_equal(check, data), (kind, chunk)
    return results


def _size(nbytes: int) -> str:
    return f"{nbytes // MiB} MiB" if nbytes >= MiB else f"{nbytes // KiB} KiB"


def throughput_table(results: dict[tuple[int, str], dict[Any, Rate | None]], settings: Settings, pings: dict[float, float]) -> Table:
    table = Table(
        title="2. Chunk read throughput: open the array and read it whole through zarr (async.concurrency "
        f"{zarr.config.get('async.concurrency')}, median of {settings.repeats}); MB/s, chunks/s, and × the baseline's MB/s. "
        "MemoryStore/LocalStore have no network: one figure in every latency column. "
        "n/a: the baseline cannot hold a chunk that size in one document (MongoDB's 16 MiB limit).",
        title_justify="left",
    )
    table.add_column("chunk")
    table.add_column("store")
    for delay in settings.delays_ms:
        label = f"+{delay:g} ms (ping {pings[delay]:.1f} ms)"
        table.add_column(f"{label}\nMB/s", justify="right")
        table.add_column("chunks/s", justify="right")
        table.add_column("× base", justify="right")
    table.add_column("write MB/s\n(+0 ms)", justify="right")
    for (chunk, kind), row in results.items():
        base = results[(chunk, "baseline")]
        cells = [f"{_size(chunk)} × {dict(settings.sizes)[chunk]}", kind]
        for delay in settings.delays_ms:
            rate, base_rate = row[delay], base[delay]
            if rate is None:
                cells += ["n/a", "", ""]
                continue
            ratio = "" if base_rate is None or kind == "baseline" else f"{rate.mb_per_s / base_rate.mb_per_s:.1f}×"
            cells += [f"{rate.mb_per_s:.1f}", f"{rate.chunks_per_s:.0f}", ratio]
        write = row.get("write")
        cells.append("" if write is None else f"{write.mb_per_s:.1f}")
        table.add_row(*cells, end_section=kind == THROUGHPUT_STORES[-1])
    return table


# ------------------------------------------------------- 3. metadata at scale


def walk_rows(backend: Backend, settings: Settings, run_id: str) -> list[list[str]]:
    rows = []
    for count in settings.walk_nodes:
        for kind in ("MongoStore", CONSOLIDATED, "baseline"):
            database = f"{run_id}_walk_{count}_{'baseline' if kind == 'baseline' else 'mongostore'}"
            cells = [f"open + walk {count:,} nodes", kind]
            for delay in settings.walk_delays_ms:
                counter = CommandCounter()
                store = make_store(kind, backend.uri(database, delay), counter)
                warm(store)
                with counter.measure() as trips:
                    start = time.perf_counter()
                    members = list(zarr.open_group(store=store, mode="r").members(max_depth=None))
                    seconds = time.perf_counter() - start
                assert len(members) == count - 1, (kind, count, len(members))
                cells.append(f"{seconds:.2f} s")
            cells.append(str(trips.total))
            rows.append(cells)
    return rows


# mongoeco builds a secondary index in time quadratic in the collection size
# (10,000 documents: ~5 s; 100,000: ~8 min), so on the wire server the indexed
# find runs on the smaller collection only. A real MongoDB (--uri) indexes all.
_MONGOECO_INDEX_LIMIT = 10_000


def find_rows(backend: Backend, settings: Settings, run_id: str) -> list[tuple[str, float, str, str, str]]:
    query = {f"attributes.{hierarchy.ATTRIBUTE}": "mouse-7"}
    rows = []
    for count in settings.find_nodes:
        database = f"{run_id}_find_{count}"
        indexed = "mongoeco" not in backend.description or count <= _MONGOECO_INDEX_LIMIT
        for delay in settings.walk_delays_ms:
            counter = CommandCounter()
            with pymongo.MongoClient(backend.uri(database, delay), event_listeners=[counter]) as client:
                nodes = client[database]["zarr.nodes"]
                for index in (False, True) if indexed else (False,):
                    label = "without index"
                    if index:
                        start = time.perf_counter()
                        nodes.create_index(f"attributes.{hierarchy.ATTRIBUTE}", name="bench_subject")
                        label = f"with index (built in {time.perf_counter() - start:.1f} s)"
                    nodes.find_one({"_id": ""})  # warm the connection
                    times = []
                    for _ in range(settings.repeats):
                        with counter.measure() as trips:
                            start = time.perf_counter()
                            found = nodes.find(query, {"_id": 1}).to_list()
                            times.append(time.perf_counter() - start)
                    if index:
                        nodes.drop_index("bench_subject")
                    rows.append((
                        f"find {{attributes.subject: 'mouse-7'}} over {count:,} nodes, {label}",
                        delay, f"{statistics.median(times) * 1000:.1f} ms", str(trips.total), f"{len(found)} found",
                    ))
    return rows


def metadata_table(
    walks: list[list[str]], finds: list[tuple[str, float, str, str, str]], settings: Settings, backend: Backend
) -> Table:
    caption = None
    if "mongoeco" in backend.description:
        caption = (
            f"mongoeco builds a secondary index in time quadratic in the collection (100,000 nodes: ~8 min), so the "
            f"indexed find runs over {_MONGOECO_INDEX_LIMIT:,} nodes only; its planner does not use the index for this "
            "query either. Measure both on MongoDB with --uri."
        )
    table = Table(title="3. Metadata at scale", title_justify="left", caption=caption, caption_justify="left")
    table.add_column("operation")
    table.add_column("store")
    for delay in settings.walk_delays_ms:
        table.add_column(f"+{delay:g} ms", justify="right")
    table.add_column("round trips", justify="right")
    for row in walks:
        table.add_row(*row)
    table.add_section()
    merged: dict[str, list[str]] = {}
    for operation, delay, ms, trips, found in finds:
        cells = merged.setdefault(operation, [operation, f"MongoDB find, {found}"] + [""] * len(settings.walk_delays_ms) + [trips])
        cells[2 + settings.walk_delays_ms.index(delay)] = ms
    for cells in merged.values():
        table.add_row(*cells)
    return table


# ------------------------------------------------------------------ main


def _preload(settings: Settings, run_id: str) -> dict[tuple[str, str], list[dict[str, Any]]]:
    batches: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for count in settings.walk_nodes:
        tree = hierarchy.nodes(count)
        batches[(f"{run_id}_walk_{count}_mongostore", "zarr.nodes")] = list(hierarchy.node_documents(tree))
        batches[(f"{run_id}_walk_{count}_baseline", "zarr_collection")] = list(hierarchy.baseline_documents(tree))
    for count in settings.find_nodes:
        batches[(f"{run_id}_find_{count}", "zarr.nodes")] = list(hierarchy.find_documents(count))
    return batches


def header(
    console: Console, argv: list[str], backend: Backend, pings: dict[float, float], load_seconds: float | None
) -> None:
    import pymongo as pm

    console.print(f"[bold]mongozarr benchmarks[/bold]  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}")
    console.print(f"command: python benchmarks/run.py {' '.join(argv)}".rstrip())
    console.print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )
    console.print(f"versions: mongozarr {mongozarr.__version__}, zarr {zarr.__version__}, pymongo {pm.version}, numpy {np.__version__}")
    console.print(f"server: {backend.description}")
    console.print(
        "latency: a TCP proxy in a child process delays every reply; measured ping round trip "
        + ", ".join(f"+{d:g} ms → {ms:.2f} ms" for d, ms in pings.items())
    )
    if load_seconds is None:  # the peers table: no baseline, nothing preloaded
        return
    console.print(
        "baseline: one document per key {_id, value} (the zarr v2 MongoDBStore design), one query per get, "
        "no batching, no index beyond _id; LocalStore on a temporary directory; all stores read through zarr's API"
    )
    console.print(f"setup: metadata hierarchies inserted in bulk in {load_seconds:.1f} s" + (
        " (with mongoeco's in-process engine before the server started: over the wire, each insert re-reads the collection)"
        if "mongoeco" in backend.description else ""))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run in well under a minute")
    parser.add_argument("--uri", help="a real MongoDB (mongodb://host:port) instead of the built-in wire server")
    parser.add_argument("--save", type=Path, help="also write the output to this Markdown file")
    parser.add_argument("--peers", action="store_true",
                        help="only the real-peers table: zarr 2.18 MongoDBStore and Icechunk, each in a venv it builds")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    # zarr warns that consolidated metadata is not in the v3 spec yet, on every consolidation.
    warnings.filterwarnings("ignore", category=zarr.errors.ZarrUserWarning)
    # A fixed width: the tables are wide, and the output is mostly read from logs and files.
    console = Console(record=True, width=170)
    run_id = "mzb" + datetime.datetime.now().strftime("%H%M%S")
    if args.peers:
        return peers_main(args, argv, console, run_id)
    started = time.perf_counter()
    delays = set(settings.delays_ms) | set(settings.walk_delays_ms)
    preload = _preload(settings, run_id)
    load_start = time.perf_counter()
    with start_backend(args.uri, preload, delays, run_id) as backend, tempfile.TemporaryDirectory() as scratch:
        load_seconds = time.perf_counter() - load_start
        pings = {d: ping_ms(backend, d) for d in sorted(delays)}
        header(console, argv, backend, pings, load_seconds)
        section = time.perf_counter()

        def took() -> None:
            nonlocal section
            console.print(f"({time.perf_counter() - section:.0f} s)\n")
            section = time.perf_counter()

        console.print(round_trip_table(round_trip_rows(backend, settings, run_id)))
        took()
        console.print(throughput_table(throughput(backend, settings, run_id, Path(scratch)), settings, pings))
        took()
        walks, finds = walk_rows(backend, settings, run_id), find_rows(backend, settings, run_id)
        console.print(metadata_table(walks, finds, settings, backend))
        took()
    console.print(f"total time {time.perf_counter() - started:.0f} s")
    if args.save:
        text = console.export_text()
        # A full run rewrites the file but keeps the peers section (written by --peers).
        kept = _section(args.save.read_text()) if args.save.exists() else None
        args.save.write_text(
            "# mongozarr benchmark results\n\n"
            f"Produced by `{_command(argv, args.save)}`"
            " (see `benchmarks/run.py` for what each figure measures).\n\n```text\n" + text + "```\n"
            + (f"\n{kept}\n" if kept else "")
        )
    return 0


PEERS_START, PEERS_END = "<!-- peers:start -->", "<!-- peers:end -->"


def _command(argv: list[str], save: Path) -> str:
    return " ".join(["python benchmarks/run.py", *(a for a in argv if a not in ("--save", str(save)))])


def _section(text: str) -> str | None:
    """The peers section of a results file (markers included), if it has one."""
    start, end = text.find(PEERS_START), text.find(PEERS_END)
    return text[start : end + len(PEERS_END)] if start >= 0 and end > start else None


def save_peers_section(path: Path, command: str, output: str) -> None:
    """Write the peers table into ``path``, replacing its previous peers section only."""
    section = (
        f"{PEERS_START}\n## Real peers\n\nProduced by `{command}`: zarr 2.18's MongoDBStore and Icechunk, each from "
        "a venv the benchmark builds (see `benchmarks/peers/`).\n\n```text\n" + output + f"```\n{PEERS_END}"
    )
    text = path.read_text() if path.exists() else "# mongozarr benchmark results\n"
    old = _section(text)
    path.write_text(text.replace(old, section) if old else text.rstrip("\n") + "\n\n" + section + "\n")


PEERS_FULL = PeerSettings()
PEERS_QUICK = PeerSettings(chunks=10, nodes=30, writers=3, keys=2, delays_ms=(0,))


def peers_main(args: argparse.Namespace, argv: list[str], console: Console, run_id: str) -> int:
    """``--peers``: mongozarr, zarr 2.18's MongoDBStore and Icechunk through the same operations."""
    settings = PEERS_QUICK if args.quick else PEERS_FULL
    started = time.perf_counter()
    with start_backend(args.uri, {}, set(settings.delays_ms), run_id) as backend, \
            tempfile.TemporaryDirectory(prefix="mongozarr-peers-") as scratch:
        pings = {d: ping_ms(backend, d) for d in settings.delays_ms}
        header(console, argv, backend, pings, None)
        # Progress goes to stderr, so that it stays out of the recorded table.
        progress = Console(stderr=True)
        runs = run_peers(lambda delay: backend.uri("admin", delay), settings, run_id, Path(scratch),
                         log=lambda message: progress.print(f"[dim]{message}[/dim]"))
    console.print(f"peers: {versions_line(runs)}")
    console.print(peers_table(runs, settings))
    console.print(f"total time {time.perf_counter() - started:.0f} s")
    if args.save:
        save_peers_section(args.save, _command(argv, args.save), console.export_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
