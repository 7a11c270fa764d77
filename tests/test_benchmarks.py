"""The benchmark suite runs, and its parts behave (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pymongo
import pytest
import zarr
from rich.console import Console
from zarr.core.buffer import Buffer, cpu
from zarr.storage import MemoryStore
from zarr.testing.store import StoreTests

from benchmarks import hierarchy
from benchmarks.baseline_store import MAX_VALUE_BYTES, BaselineStore
from benchmarks.latency_proxy import LatencyProxy
from benchmarks.memory_server import MemoryWireServer
from benchmarks.peers import PeerRun, PeerSettings, driver, peers_table, run_driver
from mongozarr.monitoring import CommandCounter, monitored_store
from mongozarr.testing import WireServer
from tests import raw

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.wire
@pytest.mark.slow
def test_quick_run_prints_all_three_tables(tmp_path: Path) -> None:
    out = tmp_path / "results.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--save", str(out)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for title in ("1. Round trips per operation", "2. Chunk read throughput", "3. Metadata at scale"):
        assert title in result.stdout
    assert "command: python benchmarks/run.py --quick" in result.stdout
    saved = out.read_text()
    assert saved.startswith("# mongozarr benchmark results") and "3. Metadata at scale" in saved


@pytest.mark.wire
def test_proxy_forwards_and_stops(wire_server: WireServer, wire_uri: str) -> None:
    proxy = LatencyProxy(wire_server.host, wire_server.port, 1).start()
    try:
        uri = proxy.uri(wire_uri)
        assert f":{proxy.port}/" in uri and proxy.port != wire_server.port
        with pymongo.MongoClient(uri) as client:
            name = wire_uri.split("/")[3].split("?")[0]
            client[name]["c"].insert_one({"_id": 1, "blob": b"x" * 300_000})
            assert len(client[name]["c"].find_one({"_id": 1})["blob"]) == 300_000
    finally:
        proxy.stop()
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=300) as client:
        with pytest.raises(pymongo.errors.ServerSelectionTimeoutError):
            client.admin.command("ping")


def _gridfs_write_round_trips(uri: str) -> dict[str, int]:
    store, counter = monitored_store(uri, inline_threshold=16 * 1024)
    try:
        array = zarr.create_array(store, name="g", shape=(8 * 65536,), chunks=(65536,), dtype="u1",
                                  compressors=None)
        with zarr.config.set({"async.concurrency": 8}), counter.measure() as trips:
            array[:] = 7
        assert (zarr.open_array(store, path="g", mode="r")[:] == 7).all()
    finally:
        store.close()
    return trips.by_command


@pytest.mark.wire
def test_memory_server_counts_the_round_trips_of_the_wire_server(wire_uri: str) -> None:
    # benchmarks/batch_round_trips.py --memory: same proxy, other engine, same counts.
    with MemoryWireServer() as server:
        in_memory = _gridfs_write_round_trips(server.uri("bench"))
    assert in_memory == _gridfs_write_round_trips(wire_uri) == {"find": 1, "insert": 2, "update": 1}


def test_proxy_refuses_negative_latency() -> None:
    with pytest.raises(ValueError):
        LatencyProxy("127.0.0.1", 1, -1)


class TestBaselineStore(StoreTests[BaselineStore, cpu.Buffer]):
    """The baseline is a valid zarr store (zarr's conformance suite, on mongomock)."""

    store_cls = BaselineStore
    buffer_cls = cpu.Buffer

    @pytest.fixture
    def store_kwargs(self, mock_uri: str) -> dict[str, Any]:
        return {"target": mock_uri}

    async def set(self, store: BaselineStore, key: str, value: Buffer) -> None:
        await store.database()[store.collection_name].replace_one(
            {"_id": key}, {"_id": key, "value": value.to_bytes()}, upsert=True
        )

    async def get(self, store: BaselineStore, key: str) -> Buffer:
        doc = await store.database()[store.collection_name].find_one({"_id": key})
        assert doc is not None, key
        return self.buffer_cls.from_bytes(bytes(doc["value"]))

    def test_store_repr(self, store: BaselineStore) -> None:
        assert repr(store).startswith("BaselineStore(")

    def test_store_supports_writes(self, store: BaselineStore) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: BaselineStore) -> None:
        assert store.supports_listing


@pytest.mark.wire
def test_baseline_is_one_find_per_chunk(wire_uri: str) -> None:
    counter = CommandCounter()
    name = wire_uri.split("/")[3].split("?")[0]
    store = BaselineStore(wire_uri, database=name, client_options={"event_listeners": [counter]})
    array = zarr.create_array(store, shape=(12,), chunks=(3,), dtype="uint8", fill_value=0)
    array[:] = list(range(1, 13))
    with counter.measure() as trips:
        assert array[:].tolist() == list(range(1, 13))
    assert trips.by_command == {"find": 4}


def test_baseline_refuses_values_beyond_a_document(mock_uri: str) -> None:
    store = BaselineStore(mock_uri)
    with pytest.raises(ValueError, match="16 MiB"):
        zarr.core.sync.sync(store.set("big", cpu.Buffer.from_bytes(b"\0" * (MAX_VALUE_BYTES + 1))))


def test_synthetic_hierarchy_opens_in_zarr(mock_uri: str) -> None:
    from mongozarr import MongoStore

    tree = hierarchy.nodes(60)
    assert len(tree) == 60 and len({path for path, _, _ in tree}) == 60
    db = raw.database(mock_uri)
    db["zarr.nodes"].insert_many(list(hierarchy.node_documents(tree)))
    baseline = BaselineStore(mock_uri)
    raw.database(mock_uri)["zarr_collection"].insert_many(list(hierarchy.baseline_documents(tree)))
    for store in (MongoStore(mock_uri), baseline):
        members = dict(zarr.open_group(store=store, mode="r").members(max_depth=None))
        assert len(members) == 59
        arrays = [m for m in members.values() if isinstance(m, zarr.Array)]
        assert arrays and all(a.attrs[hierarchy.ATTRIBUTE].startswith("mouse-") for a in arrays)


# ------------------------------------------------------------ real peers (benchmarks/peers)


class _MemoryPeer(driver.Peer):
    """The driver's zarr 3 path for a peer (walk + filter search) on a MemoryStore: no venv, no network."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.stores: dict[str, MemoryStore] = {}

    def connect(self, name: str) -> MemoryStore:
        return self.stores.setdefault(name, MemoryStore())


def test_peer_driver_creates_walks_and_searches_by_walking() -> None:
    spec = {**PeerSettings(chunks=3, nodes=25).spec(), "store": "memory"}
    results: dict[str, Any] = {}
    peer = _MemoryPeer(spec)
    driver.run_chunks(peer, results)
    driver.run_nodes(peer, results)
    expected = [p for p, t, a in driver.hierarchy(25) if t == "array" and a[driver.ATTRIBUTE] == spec["subject"]]
    assert expected and results["search"]["found"] == len(expected)
    assert results["create"]["nodes"] == results["walk"]["nodes"] == results["hierarchy"]["nodes"] == 25
    created = dict(zarr.open_group(store=peer.stores["hierarchy"], mode="r").members(max_depth=None))
    assert sorted(created) == sorted(p for p, _, _ in driver.hierarchy(25)[1:])
    assert results["read"]["concurrency"] == spec["concurrency"]
    assert "round_trips" not in results["walk"]  # no MongoDB, nothing counted


@pytest.mark.wire
def test_peer_driver_counts_mongozarr_round_trips_in_a_child(wire_server: WireServer, wire_uri: str) -> None:
    name = wire_uri.split("/")[3].split("?")[0]
    settings = PeerSettings(chunks=2, nodes=6, writers=2, keys=2)
    spec = {**settings.spec(), "store": "mongozarr", "uri": wire_uri, "database": name}
    try:
        report = run_driver(sys.executable, spec, str(ROOT))
    finally:
        with pymongo.MongoClient(wire_server.uri("admin")) as client:
            for database in client.list_database_names():
                if database.startswith(name + "_"):
                    client.drop_database(database)
    results = report["results"]
    assert report["versions"]["mongozarr"]
    assert results["search"] == {**results["search"], "round_trips": 1, "found": 1}
    assert results["read"]["round_trips"] >= 1 and results["read"]["by_command"].get("find")
    assert results["writers"] | {"kept": 4, "lost": 0, "conflicts": 0} == results["writers"]
    assert results["writers"]["round_trips"] >= 4  # at least one write per key, summed over the writer processes

    runs = [PeerRun("mongozarr", "mongozarr", {0: results}, report["versions"]),
            PeerRun("zarr2", "zarr 2.18 MongoDBStore", unavailable="not installable: no wheel for this Python")]
    console = Console(record=True, width=250)
    console.print(peers_table(runs, PeerSettings(chunks=2, nodes=6, writers=2, keys=2, delays_ms=(0,))))
    text = console.export_text()
    assert "not installable: no wheel for this Python" in text
    assert "4 / 0 / 0" in text and f"{results['walk']['round_trips']}" in text


def test_ensure_venv_reuses_the_cache_and_explains_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks.peers import venvs

    cached = tmp_path / "zarr2"
    (cached / "bin").mkdir(parents=True)
    (cached / "bin" / "python").write_text("")
    (cached / "mongozarr-peer-requirements.txt").write_text("\n".join(venvs.PEER_REQUIREMENTS["zarr2"]) + "\n")
    monkeypatch.setattr(venvs, "candidate_interpreters", lambda: pytest.fail("a cached venv must not be rebuilt"))
    assert venvs.ensure_venv("zarr2", cache=tmp_path) == cached / "bin" / "python"
    monkeypatch.setattr(venvs, "candidate_interpreters", list)
    with pytest.raises(venvs.PeerUnavailable, match="no Python interpreter"):
        venvs.ensure_venv("icechunk", cache=tmp_path)
    assert (tmp_path / ".gitignore").read_text() == "*\n"


def test_peers_section_replaces_only_itself(tmp_path: Path) -> None:
    from benchmarks import run

    results = tmp_path / "RESULTS.md"
    results.write_text("# mongozarr benchmark results\n\ntables 1-3\n")
    run.save_peers_section(results, "python benchmarks/run.py --peers", "first\n")
    run.save_peers_section(results, "python benchmarks/run.py --peers", "second\n")
    text = results.read_text()
    assert "tables 1-3" in text and "second" in text and "first" not in text
    assert text.count(run.PEERS_START) == 1
    assert run._section(text) is not None and "second" in run._section(text)


@pytest.mark.wire
def test_walk_benchmark_counts_each_walk_of_one_run(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m benchmarks.walk N --datatree``: the snapshot row walks in levels + 2, the plain one does not."""
    from benchmarks import walk

    assert walk.main(["60:3", "--datatree"]) == 0
    rows = {line[14:42].strip(): int(line[42:54]) for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(rows) == {
        "MemoryStore (zarr alone)", "members(max_depth=None)", "open_datatree", "open_datatree in snapshot()"
    }
    assert rows["members(max_depth=None)"] <= 6 and rows["open_datatree in snapshot()"] <= 6
    assert rows["open_datatree"] > rows["open_datatree in snapshot()"]
