"""``mongozarr serve``: the local MongoDB-compatible server, on a directory.

stdout gets the URI and a shell ``export`` line, nothing else (scripts read them);
what is happening goes to stderr.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from mongozarr.server import DEFAULT_PORT, ServerInfo, serve, stop

__all__ = ["serve_command"]

DEFAULT_DIRECTORY = "mongozarr-data"


def _print_address(info: ServerInfo) -> None:
    typer.echo(info.uri)
    typer.echo(f"export MONGOZARR_URI={shlex.quote(info.uri)}")


def _note(text: str) -> None:
    typer.echo(text, err=True)


def serve_command(
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="Where the data lives (created if missing).")
    ] = Path(DEFAULT_DIRECTORY),
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on (0: any free port).")
    ] = DEFAULT_PORT,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback only by default).")
    ] = "127.0.0.1",
    detach: Annotated[
        bool, typer.Option("--detach", help="Run in the background; stop it with --stop.")
    ] = False,
    stop_server: Annotated[
        bool, typer.Option("--stop", help="Stop the server running on DIR.")
    ] = False,
) -> None:
    """Serve DIR as a MongoDB server (mongosh, PyMongo, the Node.js driver...): needs the 'server' extra."""
    if stop_server:
        if stop(directory):
            _note(f"stopped the server on {directory}")
        else:
            _note(f"no server was running on {directory}")
        return

    def ready(info: ServerInfo) -> None:
        _print_address(info)
        _note(f"serving {info.directory} (pid {info.pid}); Ctrl-C stops it")

    try:
        info = serve(directory, host=host, port=port, detach=detach, on_ready=ready)
    except (ImportError, OSError, RuntimeError) as exc:
        _note(f"error: {exc}")
        raise typer.Exit(1) from None
    if not info.started:
        _print_address(info)
        _note(f"already running on {info.directory} (pid {info.pid})")
    elif detach:
        _print_address(info)
        _note(f"serving {info.directory} in the background (pid {info.pid}); "
              f"mongozarr serve --stop {shlex.quote(str(directory))} stops it")
    else:
        _note(f"stopped the server on {info.directory}")
