"""Many processes writing one node's attributes at once lose nothing (wire tier).

Each worker is a separate (spawned) process that opens its own store from a
URI, as a pipeline's workers would. A barrier starts them together.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from multiprocessing.pool import Pool
from typing import Any

import pytest
import zarr
from zarr.storage import LocalStore

from mongozarr import MongoStore, open_tree

WORKERS = 8
OPERATIONS = 50
KEYS = 20
_BARRIER_SECONDS = 120


@pytest.fixture(scope="module")
def pool() -> Iterator[tuple[Pool, Any]]:
    """Eight spawned worker processes and a manager for their barriers."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(WORKERS) as workers:
        yield workers, manager
        workers.close()
        workers.join()


def _operate(uri: str, worker: int, barrier: Any) -> None:
    tree = open_tree(uri)
    barrier.wait(_BARRIER_SECONDS)
    for j in range(OPERATIONS):
        tree.update(
            "/target",
            {
                "$inc": {"stats/count": 1},
                "$push": {"stats/labels": f"w{worker}-{j}"},
                "$addToSet": {"stats/seen": {"$each": [f"w{worker}", f"j{j}"]}},
            },
        )


def _set_keys(location: str, worker: int, barrier: Any) -> None:
    store = MongoStore(location) if "://" in location else LocalStore(location)
    group = zarr.open_group(store=store, path="target", mode="r+")
    barrier.wait(_BARRIER_SECONDS)
    for k in range(KEYS):
        group.attrs[f"w{worker}-k{k:02d}"] = k


def _run(pool: tuple[Pool, Any], function: Any, location: str) -> None:
    workers, manager = pool
    barrier = manager.Barrier(WORKERS)
    results = [workers.apply_async(function, (location, i, barrier)) for i in range(WORKERS)]
    for result in results:
        result.get(timeout=300)


@pytest.mark.wire
def test_atomic_operators_lose_nothing(server_uri: str, pool: tuple[Pool, Any]) -> None:
    root = zarr.open_group(store=MongoStore(server_uri), mode="w")
    root.create_group("target", attributes={"stats": {"count": 0}})
    _run(pool, _operate, server_uri)
    stats = open_tree(server_uri)["/target@stats"]
    total = WORKERS * OPERATIONS
    assert stats["count"] == total
    assert sorted(stats["labels"]) == sorted(f"w{w}-{j}" for w in range(WORKERS) for j in range(OPERATIONS))
    # Each worker's own pushes stay in its order.
    for w in range(WORKERS):
        mine = [label for label in stats["labels"] if label.startswith(f"w{w}-")]
        assert mine == [f"w{w}-{j}" for j in range(OPERATIONS)]
    assert sorted(stats["seen"]) == sorted({f"w{w}" for w in range(WORKERS)} | {f"j{j}" for j in range(OPERATIONS)})
    assert open_tree(server_uri).version("/target") >= total


@pytest.mark.wire
def test_plain_zarr_attribute_writes_keep_every_key(server_uri: str, pool: tuple[Pool, Any]) -> None:
    root = zarr.open_group(store=MongoStore(server_uri), mode="w")
    root.create_group("target", attributes={"origin": "test"})
    _run(pool, _set_keys, server_uri)
    attributes = zarr.open_group(store=MongoStore(server_uri), path="target", mode="r").attrs.asdict()
    expected = {f"w{w}-k{k:02d}": k for w in range(WORKERS) for k in range(KEYS)}
    assert {k: v for k, v in attributes.items() if k != "origin"} == expected
    assert attributes["origin"] == "test"
    print(f"\nMongoStore kept {len(expected)} of {WORKERS * KEYS} keys from {WORKERS} processes")


def test_a_local_store_loses_updates(tmp_path: Any, pool: tuple[Pool, Any]) -> None:
    """The same scenario on zarr's LocalStore, for comparison.

    Every worker opens the group before any writes (the barrier), and zarr
    rewrites the whole ``zarr.json`` from its in-memory attributes without
    re-reading, so the last writer's state wins: fewer than all keys survive
    by construction.
    """
    zarr.open_group(store=LocalStore(str(tmp_path)), mode="w").create_group("target")
    _run(pool, _set_keys, str(tmp_path))
    attributes = zarr.open_group(store=LocalStore(str(tmp_path)), path="target", mode="r").attrs.asdict()
    print(f"\nLocalStore kept {len(attributes)} of {WORKERS * KEYS} keys from {WORKERS} processes")
    assert len(attributes) < WORKERS * KEYS
