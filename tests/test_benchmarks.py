"""The benchmark suite runs, and its parts behave (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pymongo
import pytest
import zarr
from zarr.core.buffer import Buffer, cpu
from zarr.testing.store import StoreTests

from benchmarks import hierarchy
from benchmarks.baseline_store import MAX_VALUE_BYTES, BaselineStore
from benchmarks.latency_proxy import LatencyProxy
from mongozarr.monitoring import CommandCounter
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
