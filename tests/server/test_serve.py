"""``mongozarr serve``: foreground and detached, one server per directory, data that persists."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pymongo
import pytest
import zarr
from typer.testing import CliRunner

from mongozarr import MongoStore
from mongozarr.server import serve, status, stop
from tests.server.cli_app import app
from tests.server.processes import Foreground, require_server, run_serve, start_foreground


def _ping(uri: str) -> dict:
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=10_000) as client:
        return client.admin.command("ping")


def _refuses(uri: str) -> bool:
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=500) as client:
        try:
            client.admin.command("ping")
        except pymongo.errors.ServerSelectionTimeoutError:
            return True
    return False


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Path]:
    """A directory for detached servers; whatever still runs on it is stopped afterwards."""
    require_server()
    directory = tmp_path / "lab"
    yield directory
    stop(directory)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_foreground_serves_until_signalled_then_stops_cleanly(tmp_path: Path, signum: int) -> None:
    require_server()
    server = start_foreground(tmp_path / "lab")
    assert server.uri.startswith("mongodb://127.0.0.1:") and server.uri.endswith("/zarr?directConnection=true")
    assert server.export_line == f"export MONGOZARR_URI='{server.uri}'"
    assert _ping(server.uri)["ok"] == 1
    assert status(tmp_path / "lab").pid == server.process.pid
    code, err = server.stop(signum)
    assert code == 0, err
    assert "stopped the server" in err and "Traceback" not in err
    assert status(tmp_path / "lab") is None
    assert not (tmp_path / "lab" / "mongozarr-server.json").exists()
    assert _refuses(server.uri)


def test_stdin_closing_does_not_stop_the_users_server(tmp_path: Path) -> None:
    # The test suite's server stops when its stdin closes; the user's must not care.
    require_server()
    server = start_foreground(tmp_path / "lab", stdin=subprocess.PIPE)
    assert server.process.stdin is not None
    server.process.stdin.close()
    assert _ping(server.uri)["ok"] == 1
    assert server.process.poll() is None
    assert server.stop()[0] == 0


def test_detach_survives_the_command_and_stop_stops_it(lab: Path) -> None:
    started = run_serve(lab, "--port", "0", "--detach")
    assert started.returncode == 0, started.stderr
    uri, export_line = started.stdout.splitlines()
    assert export_line == f"export MONGOZARR_URI='{uri}'"
    assert "in the background" in started.stderr
    # The command has exited; its server still answers.
    assert _ping(uri)["ok"] == 1
    pid_file = json.loads((lab / "mongozarr-server.json").read_text())
    assert f":{pid_file['port']}/" in uri and pid_file["host"] == "127.0.0.1"
    assert status(lab).pid == pid_file["pid"]

    stopped = run_serve(lab, "--stop")
    assert stopped.returncode == 0 and "stopped the server" in stopped.stderr
    assert status(lab) is None and not (lab / "mongozarr-server.json").exists()
    assert _refuses(uri)
    again = run_serve(lab, "--stop")
    assert again.returncode == 0 and "no server was running" in again.stderr


def test_missing_directory_is_created(tmp_path: Path) -> None:
    require_server()
    directory = tmp_path / "not" / "yet" / "there"
    server = start_foreground(directory)
    try:
        assert (directory / "mongoeco.sqlite").exists()
        assert _ping(server.uri)["ok"] == 1
    finally:
        server.stop()


def test_a_second_start_reports_the_running_server(lab: Path) -> None:
    first = run_serve(lab, "--port", "0", "--detach")
    assert first.returncode == 0, first.stderr
    pid = status(lab).pid
    for extra in ([], ["--detach"]):
        second = run_serve(lab, "--port", "0", *extra)
        assert second.returncode == 0, second.stderr
        assert second.stdout == first.stdout  # the same URI and export line
        assert f"already running on {lab} (pid {pid})" in second.stderr
    assert status(lab).pid == pid


def test_data_persists_across_a_restart(tmp_path: Path) -> None:
    require_server()
    directory = tmp_path / "lab"
    server = start_foreground(directory)
    root = zarr.open_group(store=MongoStore(server.uri), mode="w")
    root.attrs["project"] = "persist"
    root.create_array("raw/img", shape=(4, 4), chunks=(2, 2), dtype="int32")[:] = np.arange(16).reshape(4, 4)
    assert server.stop()[0] == 0

    server = start_foreground(directory)
    try:
        root = zarr.open_group(store=MongoStore(server.uri), mode="r")
        assert root.attrs["project"] == "persist"
        assert (root["raw/img"][:] == np.arange(16).reshape(4, 4)).all()
    finally:
        server.stop()


def test_listens_on_loopback_only(served: Foreground) -> None:
    port = int(served.uri.split(":")[2].split("/")[0])
    listening = [c.laddr for c in psutil.Process(served.process.pid).net_connections("inet")
                 if c.status == psutil.CONN_LISTEN]
    assert [(address.ip, address.port) for address in listening] == [("127.0.0.1", port)]


def test_python_api_detach_status_stop(lab: Path) -> None:
    info = serve(lab, port=0, detach=True)
    assert info.started and info.host == "127.0.0.1" and info.directory == lab
    assert _ping(info.uri)["ok"] == 1
    again = serve(lab, port=0, detach=True)
    assert (again.started, again.pid, again.port) == (False, info.pid, info.port)
    assert status(lab) == again
    assert stop(lab) is True
    assert status(lab) is None and stop(lab) is False
    assert _refuses(info.uri)


def test_without_mongoeco_the_error_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mongoeco" else real_find_spec(name, *a))
    with pytest.raises(ImportError, match=r"pip install 'mongozarr\[server\]'.*Python >= 3\.13"):
        serve(tmp_path / "lab", port=0)
    result = CliRunner().invoke(app, ["serve", str(tmp_path / "lab"), "--port", "0"])
    assert result.exit_code == 1
    assert "pip install 'mongozarr[server]'" in result.output
    assert not (tmp_path / "lab").exists()
