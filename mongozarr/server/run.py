"""Run the server in this process until told to stop.

One code path for every way the server runs: ``mongozarr serve`` in the foreground,
its detached child, and the test suite's wire server (:class:`mongozarr.testing.WireServer`).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from mongozarr.server.state import DATA_FILE, DirectoryLock, ServerInfo, remove_info, write_info

__all__ = ["EndOfInput", "require_server_support", "run_server", "server_support_missing"]

_INSTALL_HINT = "pip install 'mongozarr[server]' (mongoeco needs Python >= 3.13)"


def server_support_missing() -> str | None:
    """``None`` if the local server can run here, else why not and what to install."""
    if sys.version_info < (3, 13):
        return f"the local server needs Python >= 3.13 for mongoeco; this is {sys.version.split()[0]}"
    if importlib.util.find_spec("mongoeco") is None:
        return f"the local server needs mongoeco: {_INSTALL_HINT}"
    return None


def require_server_support() -> None:
    """Raise ``ImportError`` naming what to install if the local server cannot run here."""
    if reason := server_support_missing():
        raise ImportError(reason, name="mongoeco")


class EndOfInput(asyncio.Protocol):
    """Sets an event when the other end of a pipe closes."""

    def __init__(self, event: asyncio.Event) -> None:
        self._event = event

    def eof_received(self) -> bool:
        self._event.set()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._event.set()


async def run_server(
    directory: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    on_ready: Callable[[ServerInfo], None] | None = None,
    exit_with_stdin: bool = False,
    stop: asyncio.Event | None = None,
) -> ServerInfo:
    """Serve ``directory`` until SIGINT/SIGTERM/SIGHUP, ``stop``, or (optionally) stdin's end.

    Parameters
    ----------
    directory
        Where the data lives; created if missing.
    host, port
        The address to listen on; port 0 picks a free port.
    on_ready
        Called once the server listens (and the pid file is written).
    exit_with_stdin
        Also stop when stdin reaches its end: a server that must die with its
        parent (the test suite's) is told to stop by the parent closing the pipe.
        Off for the user's server, which must not care what its stdin is.
    stop
        An event that stops the server when set.

    Returns
    -------
    ServerInfo
        The server that ran (it has stopped when this returns).

    Raises
    ------
    ImportError
        mongoeco is missing (the ``server`` extra).
    RuntimeError
        Another server holds ``directory``.
    OSError
        The address cannot be bound.
    """
    require_server_support()
    from mongoeco.engines import SQLiteEngine

    from mongozarr.server.replies import make_proxy_server

    directory.mkdir(parents=True, exist_ok=True)
    lock = DirectoryLock(directory)
    if not lock.try_acquire():
        raise RuntimeError(f"another server is running on {directory}")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    stdin_transport: asyncio.BaseTransport | None = None
    try:
        server = make_proxy_server(SQLiteEngine(str(directory / DATA_FILE)), host=host, port=port)
        address = await server.start()
        try:
            info = ServerInfo(directory, host, address.port, os.getpid())
            write_info(info)
            if threading.current_thread() is threading.main_thread():
                for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    loop.add_signal_handler(signum, stop.set)
                    handled.append(signum)
            if exit_with_stdin:
                stdin_transport, _ = await loop.connect_read_pipe(lambda: EndOfInput(stop), sys.stdin)
            if on_ready is not None:
                on_ready(info)
            await stop.wait()
        finally:
            await server.close()
        return info
    finally:
        if stdin_transport is not None:
            stdin_transport.close()
        for signum in handled:
            loop.remove_signal_handler(signum)
        remove_info(directory, os.getpid())
        lock.release()
