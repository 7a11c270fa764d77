"""mongosh and the Node.js driver against ``mongozarr serve``, for real.

These need Node.js and the npm packages ``bash .ci/node-tools`` installs into
``.ci/node/``; without them they skip and say so.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymongo
import pytest
import zarr

import mongozarr
from tests.server.processes import (
    HANG_GUARD,
    REPO,
    Foreground,
    node_env,
    node_tool,
    require_server,
    start_foreground,
)


@pytest.fixture(scope="module")
def hierarchy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Foreground]:
    """A served hierarchy built like the README's Python example."""
    require_server()
    server = start_foreground(tmp_path_factory.mktemp("served") / "lab")
    try:
        tree = mongozarr.open_tree(server.uri)
        root = zarr.open_group(store=tree.store, mode="w")
        img = root.create_array("raw/img1", shape=(64, 64), chunks=(32, 32), dtype="uint16",
                                attributes={"subject": "mouse-7"})
        img[:] = 7
        root.create_array("raw/img2", shape=(8,), chunks=(8,), dtype="float32",
                          attributes={"subject": "mouse-8"})[:] = 1.5
        tree["/raw/img1@qc.score"] = 0.93
        tree.update("/raw/img1", {"$inc": {"seg/count": 1},
                                  "$push": {"seg/labels": {"$each": ["seg3"], "$slice": -100}},
                                  "$addToSet": {"seg/done": "otsu"}})
        tree.create_index("subject")
        yield server
    finally:
        server.stop()


def _expected(uri: str) -> dict[str, Any]:
    """What the Node tools must answer, asked with PyMongo."""
    with pymongo.MongoClient(uri) as client:
        db = client.get_default_database()
        nodes = db["zarr.nodes"]
        return {
            "arrays": [d["_id"] for d in nodes.find({"attributes.subject": "mouse-7", "node_type": "array"})],
            "batched": sorted(d["_id"] for d in nodes.find({}, {"_id": 1})),
            "bytes": list(db["zarr.chunks"].aggregate(
                [{"$group": {"_id": "$node", "bytes": {"$sum": "$size"}}}, {"$sort": {"_id": 1}}])),
            "count": nodes.count_documents({"node_type": "array"}),
            # as JSON texts: mongoeco's distinct also lists null for nodes without the field
            "subjects": sorted(json.dumps(v) for v in nodes.distinct("attributes.subject")),
            "collections": sorted(db.list_collection_names()),
            "indexes": sorted(spec["name"] for spec in nodes.list_indexes()),
        }


def _run(command: list[str], tmp_path: Path) -> str:
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=HANG_GUARD,
                            env=node_env(tmp_path), stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert result.returncode == 0, f"{command[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


_MONGOSH_QUERIES = """
const nodes = db.getCollection("zarr.nodes");
print(EJSON.stringify({
  arrays: nodes.find({"attributes.subject": "mouse-7", node_type: "array"}, {_id: 1}).toArray().map(d => d._id),
  batched: nodes.find({}, {_id: 1}).batchSize(1).toArray().map(d => d._id).sort(),
  bytes: db.getCollection("zarr.chunks").aggregate(
    [{$group: {_id: "$node", bytes: {$sum: "$size"}}}, {$sort: {_id: 1}}]).toArray(),
  count: nodes.countDocuments({node_type: "array"}),
  subjects: nodes.distinct("attributes.subject").map(v => JSON.stringify(v)).sort(),
  collections: db.getCollectionNames().sort(),
  indexes: nodes.getIndexes().map(i => i.name).sort(),
}, {relaxed: true}));
"""


def test_mongosh_answers_find_aggregate_count_distinct_collections_indexes(
    hierarchy: Foreground, tmp_path: Path
) -> None:
    mongosh = node_tool("mongosh")
    out = _run([*mongosh, "--quiet", hierarchy.uri, "--eval", _MONGOSH_QUERIES], tmp_path)
    answers = json.loads(out.strip().splitlines()[-1])
    expected = _expected(hierarchy.uri)
    assert answers == expected
    assert answers["arrays"] == ["raw/img1"]
    assert {'"mouse-7"', '"mouse-8"'} <= set(answers["subjects"])
    assert "attributes.subject_1" in answers["indexes"] and answers["count"] == 2


def test_node_driver_answers_find_aggregate_count_distinct_collections_indexes(
    hierarchy: Foreground, tmp_path: Path
) -> None:
    node = node_tool("node")
    out = _run([*node, str(Path(__file__).with_name("node_queries.js")), hierarchy.uri], tmp_path)
    answers = json.loads(out.strip().splitlines()[-1])
    assert answers == _expected(hierarchy.uri)
    assert len(answers["batched"]) == 4  # root, raw, raw/img1, raw/img2: one getMore each


def _readme_shell_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(r"^```(?:js|javascript)\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def test_the_readme_has_shell_blocks() -> None:
    assert len(_readme_shell_blocks()) >= 2


@pytest.mark.parametrize("index", range(len(_readme_shell_blocks())))
def test_readme_shell_block_runs_in_mongosh(hierarchy: Foreground, tmp_path: Path, index: int) -> None:
    # Piped in as a user would paste it: mongosh runs and prints every statement
    # (--eval would print only the last, and leave unprinted find cursors unrun).
    mongosh = node_tool("mongosh")
    block = _readme_shell_blocks()[index]
    result = subprocess.run([*mongosh, "--quiet", hierarchy.uri], check=False, input=block,
                            capture_output=True, text=True, timeout=HANG_GUARD,
                            env=node_env(tmp_path), cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Uncaught" not in output and "Error" not in output, output
    statements = [line for line in block.splitlines() if line.strip()
                  and not line.startswith((" ", "//"))]
    answers = [chunk for chunk in output.split("zarr> ") if chunk.strip(" .\n")]
    assert len(answers) == len(statements), f"README block {index}: {statements}\n{output}"
