"""Many writers at once on the wire tier: no lost update, no lost or doubled row.

Eight processes start together (on a barrier) and each runs the same fixed
number of mixed operations against one hierarchy: atomic attribute operators
(raw ``$inc``/``$push``), plain zarr attribute writes through ``MongoStore``,
atomic appends, child array creation and link registration. Afterwards the
invariants are checked against what every worker reports it did.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
import zarr

from mongozarr import MongoStore, append, backlinks, incomplete_appends, link, links
from tests import raw
from tests.workers import run_workers, started_together

WORKERS = 8
# Operations per worker, five kinds in turn.
OPERATIONS = 50
CHUNK = 4
FILL = -1

pytestmark = pytest.mark.slow


def _setup(uri: str) -> None:
    store = MongoStore(uri)
    root = zarr.open_group(store, mode="w", attributes={"counter": 0, "log": []})
    root.create_group("meta")
    root.create_group("children")
    root.create_array("series", shape=(0, 2), chunks=(CHUNK, 2), dtype="int64", fill_value=FILL)


def _worker(uri: str, worker: int) -> dict[str, Any]:
    store = MongoStore(uri)
    nodes = raw.database(uri)["zarr.nodes"]
    meta = zarr.open_group(store, path="meta", mode="r+")  # opened once: goes stale
    series = zarr.open_array(store, path="series", mode="r+")
    done: dict[str, Any] = {"incs": 0, "log": [], "attrs": {}, "rows": [], "children": [], "links": []}
    started_together()
    for i in range(OPERATIONS):
        op = (worker + i) % 5
        if op == 0:
            nodes.update_one(
                {"_id": ""},
                {"$inc": {"attributes.counter": 1, "version": 1}, "$push": {"attributes.log": [worker, i]},
                 "$currentDate": {"updated_at": True}},
            )
            done["incs"] += 1
            done["log"].append([worker, i])
        elif op == 1:
            meta.attrs[f"w{worker}_{i}"] = i
            done["attrs"][f"w{worker}_{i}"] = i
        elif op == 2:
            rows = 1 + i % 3
            value = worker * 100_000 + i
            region = append(series, np.full((rows, 2), value))
            done["rows"].append([value, rows, region.start, region.stop])
        elif op == 3:
            name = f"children/w{worker}_{i}"
            zarr.create_array(store, name=name, shape=(2,), dtype="u1", attributes={"by": worker})
            done["children"].append(name)
        elif done["children"]:
            target = done["children"][-1]
            link(store, "series", target, "derived")
            link(store, "series", "children", "derived")  # every worker: must appear once
            done["links"].append(target)
    return done


def _run(uri: str) -> list[dict[str, Any]]:
    _setup(uri)
    return run_workers(_worker, [(uri, w) for w in range(WORKERS)])


def test_many_writers_keep_every_update(server_uri: str) -> None:
    results = _run(server_uri)
    store = MongoStore(server_uri)
    db = raw.database(server_uri)
    # Every worker did every kind of operation (ten of each, the first link after its first child).
    assert all(r["incs"] and all(r[k] for k in ("attrs", "rows", "children", "links")) for r in results)

    # Atomic operators: nothing lost.
    root = zarr.open_group(store, mode="r")
    assert root.attrs["counter"] == sum(r["incs"] for r in results)
    assert sorted(map(tuple, root.attrs["log"])) == sorted(tuple(e) for r in results for e in r["log"])

    # Plain zarr attribute writes from stale Group objects: every key kept.
    expected_attrs = {k: v for r in results for k, v in r["attrs"].items()}
    assert zarr.open_group(store, path="meta", mode="r").attrs.asdict() == expected_attrs

    # Appends: every row present exactly once, where its writer was told, no fill left.
    series = zarr.open_array(store, path="series", mode="r")
    data = series[:]
    appended = [row for r in results for row in r["rows"]]
    assert series.shape == (sum(rows for _, rows, _, _ in appended), 2)
    assert Counter(data[:, 0].tolist()) == Counter({value: rows for value, rows, _, _ in appended})
    assert (data[:, 0] == data[:, 1]).all() and FILL not in data
    for value, _, start, stop in appended:
        assert (data[start:stop] == value).all()
    assert incomplete_appends(store, "series") == []
    # Shape consistent with the stored chunks: none beyond the last row.
    chunk_rows = [int(d["_id"].split("/")[-2]) for d in db["zarr.chunks"].find({"node": "series"}, {"_id": 1})]
    assert max(chunk_rows) == (series.shape[0] - 1) // CHUNK

    # Child arrays: each created once, one document per node.
    created = sorted(name for r in results for name in r["children"])
    child_docs = sorted(d["_id"] for d in db["zarr.nodes"].find({"parent": "children"}, {"_id": 1}))
    assert child_docs == created
    all_ids = [d["_id"] for d in db["zarr.nodes"].find({}, {"_id": 1})]
    assert len(all_ids) == len(set(all_ids)) == len(created) + 4

    # Links: every registration kept, each once.
    registered = sorted({t for r in results for t in r["links"]} | {"children"})
    assert sorted(lk.target for lk in links(store, "series", "derived")) == registered
    for target in registered:
        assert [lk.source for lk in backlinks(store, target)] == ["series"]
