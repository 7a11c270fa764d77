"""The CLI never writes to a store that vanishes: data commands need a store, named one of three ways."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import zarr
from typer.testing import CliRunner

from mongozarr import MongoStore, open_tree
from mongozarr.cli import app
from tests import raw

# Every command that reads or writes a store given by --uri.
DATA_COMMANDS = [
    ("ls",), ("tree",), ("info", "/"), ("get", "/@x"), ("set", "/@x", "1"),
    ("update", "/", '{"$set": {"x": 1}}'), ("find", "{}"), ("watch", "--count", "1"),
    ("fsck",), ("import", "archive.zip"),
]


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No MONGOZARR_URI, no project or user config file."""
    monkeypatch.delenv("MONGOZARR_URI", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), terminal_width=200)


@pytest.mark.parametrize("command", DATA_COMMANDS, ids=lambda c: c[0])
def test_a_data_command_without_a_store_fails_and_says_how_to_get_one(nowhere: Path, command: tuple[str, ...]) -> None:
    result = _run(*command)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: no store given") and "mongozarr serve" in result.stderr
    assert "Traceback" not in result.output


def test_the_project_config_file_names_the_store(nowhere: Path, mock_uri: str) -> None:
    zarr.open_group(store=MongoStore(mock_uri), mode="w", attributes={"lab": "x"})
    (nowhere / "mongozarr.toml").write_text(f'uri = "{mock_uri}"\n')
    result = _run("get", "/@lab")
    assert result.exit_code == 0 and json.loads(result.stdout) == "x"


def test_the_user_config_file_is_read_and_a_bad_one_is_named(nowhere: Path, mock_uri: str) -> None:
    zarr.open_group(store=MongoStore(mock_uri), mode="w", attributes={"lab": "y"})
    user = nowhere / "config" / "mongozarr" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text(f'uri = "{mock_uri}"\n')
    assert json.loads(_run("get", "/@lab").stdout) == "y"
    user.write_text("uri = \n")
    broken = _run("get", "/@lab")
    assert broken.exit_code == 2 and "config.toml" in broken.stderr


def test_the_uri_prefix_suffix_is_honoured(mock_uri: str) -> None:
    zarr.open_group(store=MongoStore(mock_uri, prefix="lab"), mode="w", attributes={"where": "lab"})
    result = _run("get", "/@where", "--uri", f"{mock_uri}#lab")
    assert result.exit_code == 0 and json.loads(result.stdout) == "lab"
    # --prefix wins over the suffix.
    assert _run("get", "/@where", "--uri", f"{mock_uri}#lab", "--prefix", "zarr").exit_code == 3


def test_read_only_refuses_every_write_and_changes_nothing(mock_uri: str) -> None:
    zarr.open_group(store=MongoStore(mock_uri), mode="w", attributes={"n": 1})
    before = raw.database(mock_uri)["zarr.nodes"].find_one({"_id": ""})
    for args in (("set", "/@n", "2"), ("update", "/", '{"$inc": {"n": 1}}'), ("fsck", "--repair")):
        result = _run("--read-only", *args, "--uri", mock_uri)
        assert result.exit_code == 2 and "read-only" in result.stderr, (args, result.output)
    assert raw.database(mock_uri)["zarr.nodes"].find_one({"_id": ""}) == before
    assert _run("--read-only", "get", "/@n", "--uri", mock_uri).stdout.strip() == "1"
    # The flag lasts one invocation.
    assert _run("set", "/@n", "2", "--uri", mock_uri).exit_code == 0
    assert open_tree(mock_uri)["/@n"] == 2


def test_version_and_short_help() -> None:
    from mongozarr import __version__

    assert _run("--version").stdout.strip() == f"mongozarr {__version__}"
    short = _run("-h")
    assert short.exit_code == 0 and "Exit codes:" in short.stdout and "fsck" in short.stdout


def test_demo_without_a_store_says_it_uses_a_temporary_one(nowhere: Path) -> None:
    result = _run("demo")
    assert result.exit_code == 0, result.output
    assert "temporary in-process store" in result.stdout


def test_debug_shows_the_traceback_instead_of_one_line(mock_uri: str) -> None:
    from mongozarr import NodeNotFoundError

    zarr.open_group(store=MongoStore(mock_uri), mode="w")
    quiet = _run("get", "/nope", "--uri", mock_uri)
    assert quiet.exit_code == 3 and quiet.exception is not None and "Traceback" not in quiet.output
    loud = _run("--debug", "get", "/nope", "--uri", mock_uri)
    assert isinstance(loud.exception, NodeNotFoundError)
