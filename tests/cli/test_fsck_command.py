"""``mongozarr fsck``: exit 1 while something is found and not repaired, 0 once clean."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mongozarr.cli import app
from tests import raw
from tests.maintenance.test_fsck import _array, _leave_crash_debris


def test_fsck_reports_then_repairs(mock_uri: str) -> None:
    _array(mock_uri)
    debris = _leave_crash_debris(raw.database(mock_uri))
    found = CliRunner().invoke(app, ["fsck", "--json", "--uri", mock_uri])
    assert found.exit_code == 1
    report = json.loads(found.stdout)
    assert report["orphan_files"] == [str(debris["unswapped"])] and not report["repaired"]
    repaired = CliRunner().invoke(app, ["fsck", "--repair", "--uri", mock_uri], terminal_width=200)
    assert repaired.exit_code == 0, repaired.output
    assert "1 orphan GridFS files" in repaired.stdout and "removed" in repaired.stdout
    assert CliRunner().invoke(app, ["fsck", "--uri", mock_uri]).exit_code == 0


def test_fsck_says_which_external_objects_it_could_not_check(mock_uri: str) -> None:
    # The CLI opens no external object store: chunks kept there are counted as
    # unchecked, never reported clean or removed.
    _array(mock_uri)
    raw.database(mock_uri)["zarr.chunks"].insert_one(
        {"_id": "a/c/9/9", "node": "a", "size": 4, "external": True})
    result = CliRunner().invoke(app, ["fsck", "--uri", mock_uri], terminal_width=200)
    assert "1 chunk(s) in an external object store not checked" in result.stdout
    report = json.loads(CliRunner().invoke(app, ["fsck", "--json", "--uri", mock_uri]).stdout)
    assert report["unchecked_objects"] == 1 and report["lost_objects"] == []
