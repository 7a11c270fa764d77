"""``mongozarr demo`` and the concurrent-writers story it tells."""

from __future__ import annotations

import re
from pathlib import Path

import zarr
from typer.testing import CliRunner
from zarr.storage import LocalStore

from mongozarr import MongoStore
from mongozarr.cli import app
from mongozarr.cli.demo import concurrent_writers


def test_demo_tells_the_whole_story(mock_uri: str) -> None:
    result = CliRunner().invoke(app, ["demo", "--uri", mock_uri], terminal_width=200)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "mouse-7/session1" in out.replace("/\n", "/")  # the query found the arrays
    kept = re.search(r"MongoStore\s*│\s*(\d+)\s*│\s*(\d+)", out)
    lost = re.search(r"LocalStore \(a directory\)\s*│\s*(\d+)\s*│\s*(\d+)", out)
    assert kept is not None and lost is not None
    assert kept.group(1) == kept.group(2) == "12"
    assert int(lost.group(1)) < 12
    assert re.search(r"Copied out to a directory: 23 keys .* verified: True", out)
    root = zarr.open_group(MongoStore(mock_uri, prefix="demo"), mode="r")
    assert sorted(root["mouse-7"].array_keys()) == ["session0", "session1"]


def test_concurrent_writers_keep_every_key_over_the_wire(wire_uri: str) -> None:
    zarr.open_group(MongoStore(wire_uri), mode="w", attributes={"lab": "imaging"})
    attributes = concurrent_writers(lambda: MongoStore(wire_uri), writers=4, updates=2)
    assert {k for k in attributes if k.startswith("writer")} == {
        f"writer{w}-update{u}" for w in range(4) for u in range(2)
    }
    assert attributes["lab"] == "imaging"


def test_a_directory_store_loses_concurrent_attribute_writes(tmp_path: Path) -> None:
    # The baseline the demo compares against: each writer rewrites zarr.json whole.
    zarr.open_group(LocalStore(tmp_path), mode="w")
    attributes = concurrent_writers(lambda: LocalStore(tmp_path), writers=4, updates=2)
    assert len([k for k in attributes if k.startswith("writer")]) == 2
