"""What a served directory holds besides the data: a lock, a pid file, a log.

The server holds an exclusive ``flock`` on ``mongozarr-server.lock`` for as long as
it runs, so "is a server running on this directory" has an answer that cannot go
stale: the operating system drops the lock when the process ends, however it ends.
``mongozarr-server.json`` (the pid file) says where that server listens.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DATA_FILE",
    "LOG_FILE",
    "DirectoryLock",
    "ServerInfo",
    "read_info",
    "remove_info",
    "wait_released",
    "write_info",
]

#: mongoeco's SQLite database (the name the benchmarks preload too).
DATA_FILE = "mongoeco.sqlite"
#: Where a detached server writes what it would have printed to stderr.
LOG_FILE = "mongozarr-server.log"
_LOCK_FILE = "mongozarr-server.lock"
_INFO_FILE = "mongozarr-server.json"


@dataclass(frozen=True)
class ServerInfo:
    """A server on a directory: where it listens and which process it is.

    Attributes
    ----------
    directory
        The directory it serves.
    host, port
        The address it listens on.
    pid
        Its process id.
    started
        ``True`` if this call started it, ``False`` if it was already running.
    """

    directory: Path
    host: str
    port: int
    pid: int
    started: bool = True

    def uri_for(self, database: str = "zarr") -> str:
        """A ``mongodb://`` URI of ``database`` on this server."""
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"  # listening everywhere: this machine reaches it on loopback
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"mongodb://{host}:{self.port}/{database}?directConnection=true"

    @property
    def uri(self) -> str:
        """The URI of the ``zarr`` database, the one ``MongoStore`` uses by default."""
        return self.uri_for()


class DirectoryLock:
    """The exclusive lock a running server holds on its directory."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / _LOCK_FILE
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; ``False`` if another server holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Let the lock go (closing the file releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def is_held_elsewhere(self) -> bool:
        """Whether some other holder has the lock now."""
        if not self.path.exists():
            return False
        if not self.try_acquire():
            return True
        self.release()
        return False


def wait_released(directory: Path, timeout: float) -> bool:
    """Wait until no server holds ``directory``'s lock; ``False`` after ``timeout`` seconds.

    Blocks in ``flock`` (in a thread, so the wait can time out) rather than polling:
    the lock is released the moment the server process closes it or ends.
    """
    path = directory / _LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    released = threading.Event()

    def wait() -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            released.set()
        finally:
            os.close(fd)  # also lets the lock go again

    threading.Thread(target=wait, daemon=True, name="mongozarr-wait-released").start()
    return released.wait(timeout)


def write_info(info: ServerInfo) -> None:
    """Write the pid file (atomically: a reader never sees half of it)."""
    path = info.directory / _INFO_FILE
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({"pid": info.pid, "host": info.host, "port": info.port}))
    os.replace(partial, path)


def read_info(directory: Path) -> ServerInfo | None:
    """The pid file's server, or ``None`` if there is no readable pid file."""
    try:
        data = json.loads((directory / _INFO_FILE).read_text())
        return ServerInfo(directory, str(data["host"]), int(data["port"]), int(data["pid"]), started=False)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_info(directory: Path, pid: int) -> None:
    """Remove the pid file if it is ``pid``'s."""
    info = read_info(directory)
    if info is not None and info.pid == pid:
        (directory / _INFO_FILE).unlink(missing_ok=True)
