"""The ``mongozarr watch`` command: events from another process, query validation."""

from __future__ import annotations

import subprocess
import sys

import zarr
from typer.testing import CliRunner

from mongozarr import MongoStore
from mongozarr.cli import app


def _hierarchy(store: MongoStore) -> zarr.Group:
    root = zarr.open_group(store, mode="w", attributes={"lab": "imaging"})
    root.create_array("raw/img1", shape=(0, 2), chunks=(2, 2), dtype="u1", attributes={"subject": "mouse-7"})
    root.create_array("raw/img2", shape=(2,), dtype="u1", attributes={"subject": "mouse-8"})
    root.create_group("other")
    return root


def test_cli_watch_sees_another_process(wire_uri: str) -> None:
    _hierarchy(MongoStore(wire_uri))
    command = [sys.executable, "-m", "mongozarr.cli", "watch", "raw", "--uri", wire_uri, "--interval", "0.1",
               "--count", "1"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as watcher:
        assert watcher.stdout is not None
        first = watcher.stdout.readline()  # printed once the baseline is taken
        zarr.open_array(MongoStore(wire_uri), path="raw/img1").attrs["written_by"] = 1
        rest, errors = watcher.communicate(timeout=120)
    assert watcher.returncode == 0, errors
    assert first.startswith("watching") and "(poll)" in first
    assert "changed" in rest and "/raw/img1" in rest and "written_by" in rest


def test_cli_rejects_a_query_that_is_not_an_object(mock_uri: str) -> None:
    result = CliRunner().invoke(app, ["watch", "--uri", mock_uri, "--query", "[1]", "--duration", "0"])
    assert result.exit_code != 0
