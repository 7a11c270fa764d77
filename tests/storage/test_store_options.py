"""Store configuration: equality over every option, pickling, index creation once."""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

import pytest
from zarr.core.buffer import cpu
from zarr.storage import MemoryStore

from mongozarr import MongoStore
from mongozarr.monitoring import monitored_store
from tests import raw

# Each option that changes what a store does, with a value other than its default.
OPTIONS: dict[str, Any] = {
    "prefix": "other",
    "inline_threshold": 10,
    "compare_and_set": True,
    "consolidated": True,
    "chunks": "memory-chunks",
    "read_only": True,
}


def _store(uri: str, **options: Any) -> MongoStore:
    if options.get("chunks") == "memory-chunks":
        options["chunks"] = _CHUNKS
    return MongoStore(uri, **options)


_CHUNKS = MemoryStore()


def test_equal_with_equal_options_and_after_pickling(mock_uri: str) -> None:
    store = MongoStore(mock_uri)
    assert store == MongoStore(mock_uri) and hash(store) == hash(MongoStore(mock_uri))
    assert pickle.loads(pickle.dumps(store)) == store
    assert store.sibling() == store


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_stores_differing_in_one_option_are_unequal(mock_uri: str, option: str) -> None:
    changed = _store(mock_uri, **{option: OPTIONS[option]})
    assert changed != MongoStore(mock_uri)
    assert changed == _store(mock_uri, **{option: OPTIONS[option]})
    if option != "chunks":  # a MemoryStore does not pickle to an equal store
        clone = pickle.loads(pickle.dumps(changed))
        assert clone == changed and clone != MongoStore(mock_uri)


def test_external_chunk_stores_compare_by_url(mock_uri: str, tmp_path: Any) -> None:
    one, other = tmp_path / "one", tmp_path / "other"
    assert MongoStore(mock_uri, chunks=str(one)) == MongoStore(mock_uri, chunks=str(one))
    assert MongoStore(mock_uri, chunks=str(one)) != MongoStore(mock_uri, chunks=str(other))
    store = MongoStore(mock_uri, chunks=str(one))
    assert pickle.loads(pickle.dumps(store)) == store


def test_with_read_only_keeps_every_other_option(mock_uri: str) -> None:
    store = _store(mock_uri, **{k: v for k, v in OPTIONS.items() if k != "read_only"})
    assert store.with_read_only(True).with_read_only(False) == store


def _index_commands(counter: Any) -> int:
    return sum(n for name, n in counter.counts().items() if name.lower() == "createindexes")


@pytest.mark.wire
def test_concurrent_first_writes_create_the_indexes_once(wire_uri: str) -> None:
    store, counter = monitored_store(wire_uri, prefix="idx")

    async def first_writes() -> None:
        await asyncio.gather(
            *(store.set(f"a/c/{i}", cpu.Buffer.from_bytes(b"x")) for i in range(8))
        )

    asyncio.run(first_writes())
    expected = sum(len(specs) for specs in store.layout.indexes().values())
    assert _index_commands(counter) == expected
    db = raw.database(wire_uri)
    names = {index["name"] for index in db["idx.nodes"].list_indexes()}
    assert "parent_1" in names
    assert {index["name"] for index in db["idx.chunks"].list_indexes()} >= {"node_1"}


def test_reads_create_no_index(mock_uri: str) -> None:
    store = MongoStore(mock_uri, prefix="ro")
    assert store.get_sync("a/zarr.json") is None
    assert "ro.nodes" not in raw.database(mock_uri).list_collection_names()


@pytest.mark.asyncio
async def test_read_only_store_refuses_to_create_indexes(mock_uri: str) -> None:
    with pytest.raises(ValueError):
        await MongoStore(mock_uri, read_only=True).ensure_indexes_async()
