"""``mongozarr copy``, ``export`` and ``import``: the progress bar and the summary."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

import mongozarr
from mongozarr import MongoStore
from mongozarr.cli import app
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
