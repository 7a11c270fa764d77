"""Start, find and stop the local server on a directory (``mongozarr serve``).

A served directory has at most one server: it holds the directory's lock while it
runs (see :mod:`mongozarr.server.state`), so a second :func:`serve` reports the
running one instead of starting another, and :func:`stop` finds it from any process.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from mongozarr.server.run import require_server_support, run_server
from mongozarr.server.state import LOG_FILE, DirectoryLock, ServerInfo, read_info, wait_released

__all__ = ["DEFAULT_PORT", "serve", "status", "stop"]

#: MongoDB's port: what mongosh and every driver try when given no port.
DEFAULT_PORT = 27017

# Detached servers this process started, kept to reap them when stopped here.
_children: dict[int, subprocess.Popen[bytes]] = {}


def status(directory: str | os.PathLike[str]) -> ServerInfo | None:
    """The server running on ``directory``, or ``None``.

    Parameters
    ----------
    directory
        A served directory.

    Returns
    -------
    ServerInfo or None
        Its address and pid (``started`` is ``False``), or ``None`` if none runs
        (or one is still starting and has not written its pid file yet).
    """
    path = Path(directory).absolute()
    if not DirectoryLock(path).is_held_elsewhere():
        return None
    return read_info(path)


def serve(
    directory: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    detach: bool = False,
    on_ready: Callable[[ServerInfo], None] | None = None,
    timeout: float = 60.0,
) -> ServerInfo:
    """Serve ``directory`` as a MongoDB server, unless a server already runs on it.

    Parameters
    ----------
    directory
        Where the data lives (mongoeco's SQLite engine); created if missing.
    host, port
        The address to listen on: loopback only by default; port 0 picks a free port.
    detach
        Start the server as a background process that outlives this one, and return
        once it listens. Otherwise serve in this process until SIGINT/SIGTERM/SIGHUP.
    on_ready
        Called with the server's :class:`ServerInfo` once it listens (foreground only:
        a detached server is ready when this function returns).
    timeout
        How long a detached server may take to start, in seconds.

    Returns
    -------
    ServerInfo
        The server: the one already running (``started=False``), the detached one
        now running, or the foreground one, which has stopped by then.

    Raises
    ------
    ImportError
        mongoeco is missing: ``pip install 'mongozarr[server]'`` (Python >= 3.13).
    OSError
        The address cannot be bound (foreground).
    RuntimeError
        A detached server did not start (the message quotes its log).
    """
    require_server_support()
    path = Path(directory).absolute()
    running = status(path)
    if running is not None:
        return running
    if detach:
        return _start_detached(path, host, port, timeout)
    return asyncio.run(run_server(path, host=host, port=port, on_ready=on_ready))


def stop(directory: str | os.PathLike[str], *, timeout: float = 30.0) -> bool:
    """Stop the server running on ``directory``.

    Parameters
    ----------
    directory
        A served directory.
    timeout
        How long to wait for a clean stop (SIGTERM) before killing it, in seconds.

    Returns
    -------
    bool
        ``True`` if a server was running and has stopped, ``False`` if none ran.
    """
    path = Path(directory).absolute()
    info = status(path)
    if info is None:
        return False
    _signal(info.pid, signal.SIGTERM)
    if not wait_released(path, timeout):
        _signal(info.pid, signal.SIGKILL)
        wait_released(path, timeout)
    child = _children.pop(info.pid, None)
    if child is not None:
        child.wait()
    return True


def _signal(pid: int, signum: signal.Signals) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass  # it ended on its own meanwhile


def _start_detached(directory: Path, host: str, port: int, timeout: float) -> ServerInfo:
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / LOG_FILE
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mongozarr.server", str(directory),
             "--host", host, "--port", str(port), "--detached"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,  # one line, the port, once it listens
            stderr=log,
            # Its own session: the terminal's Ctrl-C and hangup do not reach it.
            start_new_session=True,
        )
    assert process.stdout is not None
    with process.stdout:
        readable, _, _ = select.select([process.stdout], [], [], timeout)
        line = process.stdout.readline() if readable else b""
    if line.strip().isdigit():
        _children[process.pid] = process
        return ServerInfo(directory, host, int(line), process.pid)
    if not readable:
        process.kill()
    process.wait()
    if (running := status(directory)) is not None:
        return running  # another start won the race for the directory
    if not readable:
        raise RuntimeError(f"the server on {directory} did not start within {timeout} s (log: {log_path})")
    last = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(no log)"]
    raise RuntimeError(f"the server on {directory} did not start: {last[0]} (log: {log_path})")
