"""Run ``mongozarr serve`` (and mongosh, node) as the user would: in other processes.

Nothing here sleeps: a server is ready when it has printed its URI line, and the
only timeouts are generous hang guards.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / ".ci" / "node" / "node_modules"
HANG_GUARD = 120.0  # seconds: far more than any step takes; only a hung process reaches it


def serve_args(directory: Path, *args: str) -> list[str]:
    """The command line of ``mongozarr serve DIR ARGS`` (the serve command on a stand-in app)."""
    return [sys.executable, "-m", "tests.server.cli_app", "serve", str(directory), *args]


def run_serve(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``mongozarr serve DIR ARGS`` to its end (``--detach``, ``--stop``, a second start)."""
    return subprocess.run(serve_args(directory, *args), check=False, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=HANG_GUARD, cwd=REPO)


class Lines:
    """A child's stdout, line by line, read in a thread so that waiting for a line can time out."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        with stream:  # closed at the end of output: no unclosed pipe is left behind
            for line in stream:
                self._lines.put(line)
        self._lines.put("")  # end of output

    def next(self, what: str) -> str:
        """The next line, or ``""`` at the end; fails (rather than hangs) if none comes."""
        try:
            return self._lines.get(timeout=HANG_GUARD)
        except queue.Empty:
            raise AssertionError(f"no {what} within {HANG_GUARD} s") from None


@dataclass
class Foreground:
    """A ``mongozarr serve DIR`` running in the foreground, and the URI it printed."""

    process: subprocess.Popen[str]
    uri: str
    export_line: str

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        """Signal it as Ctrl-C (SIGINT) or ``kill`` (SIGTERM) would; its exit code and stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            self.process.wait(timeout=HANG_GUARD)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        assert self.process.stderr is not None
        with self.process.stderr:
            return self.process.returncode, self.process.stderr.read()


def start_foreground(directory: Path, *args: str, stdin: int = subprocess.DEVNULL) -> Foreground:
    """Start ``mongozarr serve DIR --port 0 ARGS`` and wait for its URI line."""
    process = subprocess.Popen(serve_args(directory, "--port", "0", *args), stdin=stdin,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    assert process.stdout is not None
    lines = Lines(process.stdout)
    try:
        uri = lines.next("URI line").strip()
        assert uri, "mongozarr serve did not start"
        return Foreground(process, uri, lines.next("export line").strip())
    except BaseException:
        process.kill()
        process.wait()
        raise


def require_server() -> None:
    from mongozarr.server import server_support_missing

    if reason := server_support_missing():
        pytest.skip(f"local server not run: {reason}")


def node_tool(name: str) -> list[str]:
    """The command that runs ``mongosh`` or ``node`` with the driver; skips if not installed."""
    if shutil.which("node") is None:
        pytest.skip("node not installed: install Node.js, then run bash .ci/node-tools")
    if name == "mongosh":
        mongosh = NODE_MODULES / ".bin" / "mongosh"
        if not mongosh.exists():
            pytest.skip("mongosh not installed: run bash .ci/node-tools")
        return [str(mongosh)]
    if not (NODE_MODULES / "mongodb").is_dir():
        pytest.skip("the mongodb npm driver not installed: run bash .ci/node-tools")
    return ["node"]


def node_env(home: Path) -> dict[str, str]:
    """An environment for node and mongosh: the driver on NODE_PATH, no telemetry, a throwaway HOME."""
    return {**os.environ, "NODE_PATH": str(NODE_MODULES), "DO_NOT_TRACK": "1", "HOME": str(home)}
