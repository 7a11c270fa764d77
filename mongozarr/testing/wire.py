"""Test helpers: a throwaway MongoDB wire server for tests, benchmarks and demos.

:class:`WireServer` runs the local server of :mod:`mongozarr.server` (mongoeco's
wire-protocol server on its SQLite engine, with the same reply corrections as
``mongozarr serve``) in a child process bound to 127.0.0.1 on a free port, so real
PyMongo clients in many processes talk to it over TCP. mongoeco needs Python 3.13.

Run ``python -m mongozarr.testing.wire DIR`` to serve by hand until stdin closes
(Ctrl-D); it prints the port. ``mongozarr serve DIR`` is the user's way.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["ChildServer", "WireServer", "wire_server_available"]


def wire_server_available() -> str | None:
    """``None`` if :class:`WireServer` can run here, else the reason it cannot."""
    if sys.version_info < (3, 13):
        return "the mongoeco wire server needs Python 3.13"
    if importlib.util.find_spec("mongoeco") is None:
        return "mongoeco is not installed (pip install 'mongozarr[test]')"
    return None


class ChildServer:
    """A server in a child process that prints its port, and exits with its parent.

    The child is told to stop by closing its stdin, so it also goes away if
    this process dies. Subclasses give the command line (``_command``).
    """

    host = "127.0.0.1"

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.port = 0

    def _command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> Self:
        """Start the child and wait until it listens."""
        self._process = subprocess.Popen(
            self._command(),
            stdin=subprocess.PIPE,  # the child exits when this pipe closes
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line:
            self.stop()
            raise RuntimeError(f"{type(self).__name__} did not start")
        self.port = int(line)
        return self

    def stop(self) -> None:
        """Stop the child process."""
        if self._process is None:
            return
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class WireServer(ChildServer):
    """A mongoeco wire server in a child process; use as a context manager.

    Parameters
    ----------
    directory
        Where the SQLite file lives; a temporary directory by default.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self._tmp = None if directory is not None else tempfile.TemporaryDirectory(prefix="mongozarr-wire-")
        self.directory = Path(directory if directory is not None else self._tmp.name)  # type: ignore[union-attr]

    def _command(self) -> list[str]:
        reason = wire_server_available()
        if reason:
            raise RuntimeError(reason)
        # The server exits when our end of its stdin closes: it dies with this process.
        return [sys.executable, "-m", "mongozarr.server", str(self.directory),
                "--port", "0", "--exit-with-stdin"]

    def uri(self, database: str = "zarr") -> str:
        """A URI for ``database`` on this server."""
        return f"mongodb://{self.host}:{self.port}/{database}?directConnection=true"

    def stop(self) -> None:
        """Stop the server process and remove its temporary directory."""
        super().stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


if __name__ == "__main__":
    from mongozarr.server.__main__ import main

    sys.exit(main([sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(), "--exit-with-stdin"]))
