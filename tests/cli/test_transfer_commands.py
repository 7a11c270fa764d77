"""``mongozarr copy``, ``export`` and ``import``: the progress bar and the summary."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr
from typer.testing import CliRunner

import mongozarr
from mongozarr import MongoStore
from mongozarr.cli import app
from tests import raw
from tests.transfer.samples import build, check_hierarchy, thousand_chunks


def test_progress_bar_renders(tmp_path: Path, mock_uri: str) -> None:
    source = str(tmp_path / "source")
    mongozarr.copy(thousand_chunks(), source)
    result = CliRunner().invoke(app, ["copy", source, mock_uri])
    assert result.exit_code == 0, result.output
    assert "1002/1002" in result.stderr
    assert "1002 keys, 1002 copied" in " ".join(result.stdout.split())


def test_no_progress_bar_when_asked(tmp_path: Path, mock_uri: str) -> None:
    source = str(tmp_path / "source")
    mongozarr.copy(thousand_chunks(), source)
    result = CliRunner().invoke(app, ["copy", source, mock_uri, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "1002/1002" not in result.stderr


def test_cli_copy_export_import(tmp_path: Path, mock_uri: str) -> None:
    runner = CliRunner()
    source = tmp_path / "source"
    mongozarr.copy(build(3), str(source))
    result = runner.invoke(app, ["copy", str(source), str(tmp_path / "copy"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "9 keys, 9 copied" in " ".join(result.output.split())
    archive = str(tmp_path / "a.zip")
    result = runner.invoke(app, ["export", str(tmp_path / "copy"), "--archive", archive])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["import", archive, "--uri", mock_uri, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "consolidated metadata left out" in " ".join(result.output.split())
    check_hierarchy(MongoStore(mock_uri))


@pytest.mark.wire
def test_ctrl_c_during_import_is_one_line_and_the_import_resumes(tmp_path: Path, wire_uri: str) -> None:
    source = tmp_path / "src.zarr"
    zarr.create_array(str(source), shape=(400,), chunks=(1,), dtype="u1", fill_value=None)[:] = 5
    command = [sys.executable, "-c", "from mongozarr.cli.app import main; main()",
               "import", str(source), "--uri", wire_uri, "--no-progress"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    chunks = raw.database(wire_uri)["zarr.chunks"]
    # Interrupt once the import is under way (a count of stored chunks, not a delay).
    while chunks.count_documents({}) < 10:
        assert child.poll() is None, child.communicate()
    child.send_signal(signal.SIGINT)
    out, err = child.communicate()
    assert child.returncode == 130, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted after ") and "of 401 keys" in lines[0], err
    assert "run the same command again to resume" in lines[0]
    result = CliRunner().invoke(app, ["import", str(source), "--uri", wire_uri, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "401 keys" in result.stdout and "0 already there" not in result.stdout and "verified" in result.stdout
    assert np.all(zarr.open_array(store=MongoStore(wire_uri), mode="r")[:] == 5)
