"""The server process: ``python -m mongozarr.server DIR [--host] [--port] [--exit-with-stdin]``.

Writes one line to stdout, the port, once it listens (what :func:`mongozarr.server.serve`
and :class:`mongozarr.testing.WireServer` wait for); errors go to stderr. Users run
``mongozarr serve`` instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from mongozarr.server.run import run_server
from mongozarr.server.state import ServerInfo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mongozarr.server")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--exit-with-stdin", action="store_true",
                        help="stop when stdin closes (a server that dies with its parent)")
    parser.add_argument("--detached", action="store_true",
                        help="after the port line, send stdout nowhere (the reader goes away)")
    args = parser.parse_args(argv)

    def ready(info: ServerInfo) -> None:
        sys.stdout.write(f"{info.port}\n")
        sys.stdout.flush()
        if args.detached:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)

    try:
        asyncio.run(run_server(args.directory.absolute(), host=args.host, port=args.port,
                               on_ready=ready, exit_with_stdin=args.exit_with_stdin))
    except (ImportError, RuntimeError, OSError) as exc:
        sys.stderr.write(f"mongozarr server: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
