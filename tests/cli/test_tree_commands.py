"""The Tree commands of the ``mongozarr`` CLI (ls, tree, info, get, set, update, find).

mongomock:// data lives in-process, so the CliRunner sees what the test wrote.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import zarr
from typer.testing import CliRunner

from mongozarr import MongoStore, open_tree
from mongozarr.cli import app


@pytest.fixture
def uri(mock_uri: str) -> str:
    root = zarr.open_group(store=MongoStore(mock_uri), mode="w", attributes={"lab": "imaging"})
    raw = root.create_group("raw")
    for i, subject in enumerate(["mouse-7", "mouse-8"]):
        raw.create_array(f"img{i}", shape=(4, 6), chunks=(2, 3), dtype="uint16",
                         attributes={"subject": subject, "a.b": i})
    return mock_uri


def _run(*args: str, uri: str | None = None, env: dict[str, str] | None = None) -> Any:
    argv = [*args] + (["--uri", uri] if uri else [])
    return CliRunner().invoke(app, argv, env=env, terminal_width=200)


def _json(*args: str, uri: str) -> Any:
    result = _run(*args, "--json", uri=uri)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_ls_and_tree(uri: str) -> None:
    assert [row["path"] for row in _json("ls", "/", uri=uri)] == ["/raw"]
    rows = _json("ls", "/raw", uri=uri)
    assert [(r["path"], r["shape"], r["data_type"]) for r in rows] == [
        ("/raw/img0", [4, 6], "uint16"), ("/raw/img1", [4, 6], "uint16")]
    table = _run("ls", "/raw", uri=uri)
    assert table.exit_code == 0 and "/raw/img1" in table.stdout and "mouse-8" in table.stdout
    assert [r["path"] for r in _json("tree", uri=uri)] == ["/", "/raw", "/raw/img0", "/raw/img1"]
    text = _run("tree", "/raw", uri=uri).stdout
    assert "img0" in text and "(4, 6)" in text and "uint16" in text


def test_uri_from_the_environment(uri: str) -> None:
    result = _run("ls", "/raw", "--json", env={"MONGOZARR_URI": uri})
    assert result.exit_code == 0 and len(json.loads(result.stdout)) == 2


def test_info_get_set(uri: str) -> None:
    info = _json("info", "/raw/img1", uri=uri)
    assert info["shape"] == [4, 6] and info["chunks"] == [2, 3] and info["attributes"]["a.b"] == 1
    assert "subject" in _run("info", "/raw/img1", uri=uri).stdout
    assert _json("get", "/raw/img1@a.b", uri=uri) == 1
    assert _json("get", "/raw/img1", uri=uri)["attributes"]["subject"] == "mouse-8"
    result = _run("set", "/raw/img1@spam/eggs", '{"x": [1, 2]}', uri=uri)
    assert result.exit_code == 0, result.output
    assert open_tree(uri)["/raw/img1@spam/eggs"] == {"x": [1, 2]}
    assert _run("set", "/raw/img1@big", str(2**70), uri=uri).exit_code == 0
    assert open_tree(uri)["/raw/img1@big"] == 2**70
    assert _run("set", "/raw/img1@nan", "NaN", uri=uri).exit_code == 0
    assert math.isnan(open_tree(uri)["/raw/img1@nan"])
    assert _run("get", "/raw/img1@nan", uri=uri).stdout.strip() == "NaN"


def test_update(uri: str) -> None:
    attributes = _json("update", "/raw/img0", '{"$inc": {"spam/count": 2}, "$push": {"labels": "s1"}}', uri=uri)
    assert attributes["spam"] == {"count": 2} and attributes["labels"] == ["s1"]
    version = open_tree(uri).version("/raw/img0")
    ok = _run("update", "/raw/img0", '{"$set": {"v": 1}}', "--expected-version", str(version), uri=uri)
    assert ok.exit_code == 0 and "after the update" in ok.stdout
    stale = _run("update", "/raw/img0", '{"$set": {"v": 2}}', "--expected-version", str(version), uri=uri)
    assert stale.exit_code == 4 and "not the expected" in stale.stderr  # 4: conflict
    assert open_tree(uri)["/raw/img0@v"] == 1


def test_find(uri: str) -> None:
    assert [r["path"] for r in _json("find", '{"subject": "mouse-7"}', uri=uri)] == ["/raw/img0"]
    assert [r["path"] for r in _json("find", '{"a.b": {"$gte": 0}}', "--type", "array", uri=uri)] == [
        "/raw/img0", "/raw/img1"]
    assert [r["path"] for r in _json("find", "--under", "/raw", "--limit", "1", uri=uri)] == ["/raw/img0"]
    table = _run("find", '{"subject": {"$regex": "^mouse"}}', uri=uri)
    assert table.exit_code == 0 and "2 node(s)" in table.stdout


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (("get", "/raw//img0"), "cannot be empty", 2),
        (("get", "/raw/img0@a@b"), "second '@'", 2),
        (("get", "/raw/nope"), "no group or array at '/raw/nope'", 3),
        (("get", "/raw/img0@nope"), "no attribute", 3),
        (("set", "/raw/img0@x", "{not json"), "VALUE is not valid JSON", 2),
        (("set", "/raw/img0", "1"), "names a node", 2),
        (("set", "/raw/nope@x", "1"), "no group or array", 3),
        (("update", "/raw/img0", '{"$bogus": {"a": 1}}'), "unknown update operator '$bogus'", 2),
        (("update", "/raw/img0", '{"a": 1}'), "wrap plain values", 2),
        (("update", "/raw/img0", "[1"), "OPS is not valid JSON", 2),
        (("find", '{"a": {"$near": 1}}'), "unknown query operator '$near'", 2),
        (("find", "{}", "--type", "table"), "node_type must be", 2),
        (("ls", "/nope"), "no group or array", 3),
        (("info", "/raw@x"), "names an attribute", 2),
    ],
)
def test_helpful_errors(uri: str, args: tuple[str, ...], message: str, code: int) -> None:
    result = _run(*args, uri=uri)
    assert result.exit_code == code  # 2: usage or input mistake, 3: not found
    assert message in result.stderr and result.stderr.startswith("error: ")
    assert "Traceback" not in result.output


def test_info_shows_codecs_fill_value_stored_bytes_and_one_attribute_per_row(mock_uri: str) -> None:
    root = zarr.open_group(store=MongoStore(mock_uri), mode="w")
    array = root.create_array("img", shape=(64, 64), chunks=(32, 32), dtype="u2", fill_value=7,
                              attributes={"subject": "mouse-7", "stain": "dapi"})
    array[:] = 3  # compresses well: the ratio is well above 1
    info = _json("info", "/img", uri=mock_uri)
    assert info["fill_value"] == 7 and "zstd" in " ".join(info["codecs"])
    assert info["stored_bytes"] > 0 and info["ratio"] > 1
    text = _run("info", "/img", uri=mock_uri).stdout
    assert "@subject" in text and "@stain" in text
    assert all(len(line) <= 80 for line in CliRunner().invoke(app, ["info", "/img", "--uri", mock_uri],
                                                                 terminal_width=80).stdout.splitlines())


def test_ls_and_find_tables_give_each_attribute_its_own_line(uri: str) -> None:
    tree = open_tree(uri)
    tree["/raw/img1@notes"] = "a long note about this acquisition, " * 4
    for args in (("ls", "/raw"), ("find", '{"subject": "mouse-8"}')):
        lines = CliRunner().invoke(app, [*args, "--uri", uri], terminal_width=80).stdout.splitlines()
        assert all(len(line) <= 80 for line in lines)
        starts = {key: i for i, line in enumerate(lines) for key in ("@subject", "@a.b", "@notes") if key in line}
        assert len(starts) == 3 and len(set(starts.values())) == 3, lines  # three attributes, three lines
