"""rm, count, distinct, du, index and bare-string set, through the CLI."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import zarr
from typer.testing import CliRunner

import mongozarr
from mongozarr import MongoStore, open_tree
from mongozarr.cli import app


def _run(*args: str, uri: str) -> Any:
    return CliRunner().invoke(app, [*args, "--uri", uri], terminal_width=200)


def _lab(uri: str) -> MongoStore:
    store = MongoStore(uri)
    root = zarr.open_group(store=store, mode="w")
    for mouse in ("m7", "m8"):
        group = root.create_group(mouse, attributes={"subject": mouse})
        array = group.create_array("img", shape=(8, 8), chunks=(4, 4), dtype="i4", attributes={"subject": mouse})
        array[:] = np.arange(64, dtype="i4").reshape(8, 8)
    root.create_group("labels")
    mongozarr.link(store, "/labels", "/m8/img", "segments")
    return store


def test_count_and_distinct(mock_uri: str) -> None:
    _lab(mock_uri)
    assert _run("count", uri=mock_uri).stdout.strip() == "6"  # the root, 2 groups, 2 arrays, labels
    assert _run("count", '{"subject": "m7"}', "--type", "array", uri=mock_uri).stdout.strip() == "1"
    assert sorted(json.loads(_run("distinct", "subject", "--json", uri=mock_uri).stdout)) == ["m7", "m8"]
    assert _run("count", '{"$where": "1"}', uri=mock_uri).exit_code == 2


def test_du_sums_the_chunk_index(mock_uri: str) -> None:
    _lab(mock_uri)
    rows = json.loads(_run("du", "--json", uri=mock_uri).stdout)
    assert [r["path"] for r in rows] == ["/m7/img", "/m8/img"]
    assert all(r["chunks"] == 4 and r["stored_bytes"] > 0 for r in rows)
    assert [r["path"] for r in json.loads(_run("du", "/m8", "--json", uri=mock_uri).stdout)] == ["/m8/img"]


def test_rm_needs_r_for_a_subtree_and_removes_links_into_it(mock_uri: str) -> None:
    store = _lab(mock_uri)
    refused = _run("rm", "/m8", uri=mock_uri)
    assert refused.exit_code == 2 and "use -r" in refused.stderr
    assert _run("rm", "/nope", uri=mock_uri).exit_code == 3
    done = _run("rm", "/m8", "-r", uri=mock_uri)
    assert done.exit_code == 0, done.output
    assert "removed 1 link(s)" in done.stdout
    assert [n.path for n in open_tree(mock_uri).find({})] == ["", "labels", "m7", "m7/img"]
    assert mongozarr.links(store, "/labels") == []
    assert _run("--read-only", "rm", "/m7", "-r", uri=mock_uri).exit_code == 2


def test_index_create_list_drop(mock_uri: str) -> None:
    _lab(mock_uri)
    name = _run("index", "create", "subject", uri=mock_uri).stdout.strip()
    listed = json.loads(_run("index", "list", "--json", uri=mock_uri).stdout)
    assert name in [index["name"] for index in listed]
    assert _run("index", "drop", name, uri=mock_uri).exit_code == 0
    assert name not in [i["name"] for i in json.loads(_run("index", "list", "--json", uri=mock_uri).stdout)]
    assert _run("index", "drop", "_id_", uri=mock_uri).exit_code == 2


def test_set_takes_a_bare_string_and_json_otherwise(mock_uri: str) -> None:
    _lab(mock_uri)
    assert _run("set", "/m7@stain", "dapi", uri=mock_uri).exit_code == 0
    assert _run("set", "/m7@n", "3", uri=mock_uri).exit_code == 0
    assert _run("set", "/m7@quoted", '"7"', uri=mock_uri).exit_code == 0
    tree = open_tree(mock_uri)
    assert (tree["/m7@stain"], tree["/m7@n"], tree["/m7@quoted"]) == ("dapi", 3, "7")
    broken = _run("set", "/m7@x", "{not json", uri=mock_uri)
    assert broken.exit_code == 2 and "VALUE is not valid JSON" in broken.stderr
