"""A TCP proxy that adds network latency, for timing stores as if remote.

:class:`LatencyProxy` listens on 127.0.0.1 (a free port) and forwards every
connection to a target server, holding every piece of data the server sends
back for ``round_trip_ms``, so that each request/response exchange costs that
much more than it would directly. (The whole delay goes on the way back
rather than half each way: asyncio's timers round up to whole milliseconds,
so two half-delays would cost about 2 ms for a requested 1 ms.) Data is
stamped when it arrives and released when its time comes, so the delay does
not throttle bandwidth: a 16 MiB reply pays the latency once, not once per
TCP segment.

The proxy runs in a child process (like :class:`mongozarr.testing.WireServer`)
so that its event loop does not compete with the measured client for the GIL,
and it exits when its parent closes its stdin.

Run by hand: ``python latency_proxy.py HOST PORT ROUND_TRIP_MS`` prints the port.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from mongozarr.testing import ChildServer

__all__ = ["LatencyProxy"]

_READ_BYTES = 256 * 1024


class LatencyProxy(ChildServer):
    """Forward TCP connections to ``host:port`` with extra round-trip latency.

    Parameters
    ----------
    host, port
        The server to forward to.
    round_trip_ms
        Latency added to each request/response round trip, in milliseconds.
    """

    def __init__(self, host: str, port: int, round_trip_ms: float) -> None:
        if round_trip_ms < 0:
            raise ValueError(f"round_trip_ms must be >= 0, got {round_trip_ms}")
        super().__init__()
        self.target = (host, port)
        self.round_trip_ms = round_trip_ms

    def _command(self) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve()), *map(str, self.target), str(self.round_trip_ms)]

    def uri(self, uri: str) -> str:
        """``uri`` (a ``mongodb://`` URI of the target) rewritten to go through the proxy."""
        parts = urlsplit(uri)
        return urlunsplit(parts._replace(netloc=f"{self.host}:{self.port}"))


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy ``reader`` to ``writer``, releasing each piece ``delay`` s after it arrived."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def release() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()

    releaser = asyncio.create_task(release()) if delay else None
    try:
        while True:
            data = await reader.read(_READ_BYTES)
            if releaser is None:
                if not data:
                    break
                writer.write(data)
                await writer.drain()
            else:
                queue.put_nowait((time.monotonic() + delay, data))
                if not data:
                    await releaser
                    break
    except ConnectionError:
        pass
    finally:
        if releaser is not None:
            releaser.cancel()
        writer.close()


async def _serve(host: str, port: int, round_trip_ms: float) -> None:
    delay = round_trip_ms / 1000.0

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(host, port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            _pump(client_reader, server_writer, 0.0),
            _pump(server_reader, client_writer, delay),
            return_exceptions=True,
        )

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    # Stop when the parent goes away (its end of our stdin closes).
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
