"""``mongozarr watch``: one line per node change, and clear errors for a bad --query."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import zarr
from typer.testing import CliRunner

from mongozarr import ChangeEvent, MongoStore
from mongozarr.cli import app
from mongozarr.cli.rendering import format_event


def _hierarchy(uri: str) -> None:
    root = zarr.open_group(MongoStore(uri), mode="w", attributes={"lab": "imaging"})
    root.create_group("raw").create_array("img1", shape=(4,), chunks=(2,), dtype="uint8")


def test_events_are_one_line_each() -> None:
    assert format_event(ChangeEvent("deleted", "raw/img1")) == "deleted  /raw/img1"
    changed = ChangeEvent("changed", "raw", 3, ("a", "b"), ("metadata.shape",))
    assert format_event(changed) == (
        "changed  /raw  v3  attributes: a, b  fields: metadata.shape"
    )


def test_watch_prints_what_another_process_changes(wire_uri: str) -> None:
    _hierarchy(wire_uri)
    command = [sys.executable, "-m", "mongozarr.cli", "watch", "raw", "--uri", wire_uri,
               "--interval", "0.1", "--count", "1"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as watcher:
        assert watcher.stdout is not None
        first = watcher.stdout.readline()  # printed once the baseline is taken
        zarr.open_array(MongoStore(wire_uri), path="raw/img1").attrs["written_by"] = 1
        rest, errors = watcher.communicate(timeout=120)
    assert watcher.returncode == 0, errors
    assert first.startswith("watching") and "(poll)" in first
    assert "changed" in rest and "/raw/img1" in rest and "written_by" in rest


def test_watch_stops_after_its_duration(mock_uri: str) -> None:
    _hierarchy(mock_uri)
    result = CliRunner().invoke(
        app, ["watch", "--uri", mock_uri, "--duration", "0"], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("watching ") and "(poll)" in result.stdout


@pytest.mark.parametrize(
    ("query", "message"),
    [("[1]", "--query must be a JSON object"), ("{nope", "--query is not valid JSON")],
)
def test_watch_rejects_a_bad_query_in_one_line(mock_uri: str, query: str, message: str) -> None:
    result = CliRunner().invoke(app, ["watch", "--uri", mock_uri, "--query", query, "--duration", "0"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.output


def test_watch_json_prints_one_object_per_event(wire_uri: str) -> None:
    _hierarchy(wire_uri)
    command = [sys.executable, "-m", "mongozarr.cli", "watch", "raw", "--uri", wire_uri,
               "--interval", "0.1", "--count", "1", "--json", "--query", '{"node_type": "array"}']
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as watcher:
        assert watcher.stderr is not None and watcher.stdout is not None
        assert watcher.stderr.readline().startswith("watching ")  # the baseline is taken
        zarr.open_array(MongoStore(wire_uri), path="raw/img1", mode="r+").attrs["qc"] = 1
        out, _ = watcher.communicate(timeout=300)
    event = json.loads(out.splitlines()[0])
    assert event["kind"] == "changed" and event["path"] == "raw/img1" and "qc" in event["attributes"]


def test_watch_refuses_where_in_one_line(mock_uri: str) -> None:
    result = CliRunner().invoke(app, ["watch", "--uri", mock_uri, "--query", '{"$where": "1"}', "--duration", "0"])
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and "$where" in result.stderr
