"""Six processes share one hierarchy, each sharing one store between zarr and the Tree (issue 9).

Each process opens a group and an array once (they go stale as the others
write), then every round: a plain zarr attribute write through that stale
group and that stale array, an atomic ``$inc`` through the Tree, an atomic
append through the stale array, and reads through the Tree on the same store (``find`` and
``tree[...]``), which used to move the store's merge base and undo the
other writers' keys, increments and rows. Every key, increment and row is
counted afterwards. Run three times.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
import zarr

import mongozarr
from mongozarr import MongoStore
from tests import raw
from tests.workers import run_workers, started_together

WORKERS = 6
ROUNDS = 10
CHUNK = 4

pytestmark = pytest.mark.slow


def _setup(uri: str) -> None:
    root = zarr.open_group(store=MongoStore(uri), mode="w")
    root.create_group("g", attributes={"count": 0})
    root.create_array("a", shape=(0, 2), chunks=(CHUNK, 2), dtype="i8", fill_value=-1)


def _worker(uri: str, worker: int) -> dict[str, Any]:
    store = MongoStore(uri)
    tree = mongozarr.open_tree(store)
    group = zarr.open_group(store=store, path="g", mode="r+")  # opened once: goes stale
    array = zarr.open_array(store=store, path="a", mode="r+")
    done: dict[str, Any] = {"keys": {}, "increments": 0, "rows": []}
    started_together()
    for i in range(ROUNDS):
        key = f"w{worker}_{i}"
        group.attrs[key] = i
        array.attrs[key] = i  # through a stale array: must not shrink it back
        done["keys"][key] = i
        tree.update("/g", {"$inc": {"count": 1}})
        done["increments"] += 1
        value = worker * 1000 + i
        region = mongozarr.append(array, np.full((2, 2), value))
        done["rows"].append((value, region.start, region.stop))
        # Reads through the same store: they once moved the merge base of
        # the stale group and array above.
        list(tree.find({}))
        tree["/g"], tree["/a"]
    return done


@pytest.mark.parametrize("run", [1, 2, 3])
def test_six_processes_sharing_zarr_and_tree_keep_everything(server_uri: str, run: int) -> None:
    _setup(server_uri)
    results = run_workers(_worker, [(server_uri, w) for w in range(WORKERS)])

    stored = zarr.open_group(store=MongoStore(server_uri), path="g", mode="r").attrs.asdict()
    expected_keys = {k: v for r in results for k, v in r["keys"].items()}
    figures = _figures(server_uri, results)
    assert figures == {"keys": (120, 120), "increments": (60, 60), "rows": (120, 120)}, figures
    assert len(expected_keys) == WORKERS * ROUNDS
    assert {k: v for k, v in stored.items() if k != "count"} == expected_keys
    assert stored["count"] == sum(r["increments"] for r in results) == WORKERS * ROUNDS

    array = zarr.open_array(store=MongoStore(server_uri), path="a", mode="r")
    appended = [row for r in results for row in r["rows"]]
    total = sum(stop - start for _, start, stop in appended)
    assert array.shape == (total, 2)
    data = array[:]
    assert Counter(data[:, 0].tolist()) == Counter({v: stop - start for v, start, stop in appended})
    for value, start, stop in appended:
        assert (data[start:stop] == value).all()
    assert not raw.database(server_uri)["zarr.nodes"].find_one({"_id": "a"}).get("pending_appends")


def _figures(uri: str, results: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """(kept, written) for keys, increments and rows."""
    nodes = raw.database(uri)["zarr.nodes"]
    attributes = nodes.find_one({"_id": "g"}).get("attributes") or {}
    array_attributes = nodes.find_one({"_id": "a"}).get("attributes") or {}
    keys = [k for r in results for k in r["keys"]]
    rows = sum(stop - start for r in results for _, start, stop in r["rows"])
    data = zarr.open_array(store=MongoStore(uri), path="a", mode="r")[:]
    written = Counter(v for r in results for v, start, stop in r["rows"] for _ in range(stop - start))
    stored = Counter(data[:, 0].tolist())
    return {
        "keys": (sum(k in attributes for k in keys) + sum(k in array_attributes for k in keys), 2 * len(keys)),
        "increments": (int(attributes.get("count", 0)), sum(r["increments"] for r in results)),
        "rows": (sum(min(n, stored[v]) for v, n in written.items()), rows),
    }
