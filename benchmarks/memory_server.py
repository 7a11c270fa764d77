"""mongoeco's wire server on its memory engine, in a child process: for round-trip counts only.

The local server (:class:`mongozarr.testing.WireServer`) keeps its data in SQLite,
where mongoeco checks GridFS's unique ``(files_id, n)`` index by reading every
piece already stored: each insert costs time in proportion to the bucket, so
16 × 16 MiB GridFS chunks take about an hour and one 48 MB insert outlasts the
5-minute socket timeout. The memory engine checks the same index without
reading documents from disk. Round trips are the client's (its batches, and
PyMongo's split of a request at the message size the server announces, the
same behind either engine), so they count the same here.

Run ``python benchmarks/memory_server.py``: it prints its port and serves until
stdin closes (the protocol of :class:`~mongozarr.testing.ChildServer`).
"""

from __future__ import annotations

import asyncio
import sys

from mongozarr.server.run import EndOfInput
from mongozarr.testing import ChildServer

__all__ = ["MemoryWireServer"]


class MemoryWireServer(ChildServer):
    """A mongoeco wire server on the memory engine in a child process; use as a context manager."""

    def _command(self) -> list[str]:
        return [sys.executable, __file__]

    def uri(self, database: str = "zarr") -> str:
        """A URI for ``database`` on this server."""
        # The memory engine stores an insert on the server's event loop: during a
        # 48 MB one it cannot answer PyMongo's heartbeat, which after connectTimeoutMS
        # marks the server unknown and cancels the insert in flight.
        return f"mongodb://{self.host}:{self.port}/{database}?directConnection=true&connectTimeoutMS=120000"


async def _serve() -> None:
    from mongoeco.engines import MemoryEngine

    from mongozarr.server.replies import make_proxy_server

    # The same reply corrections as the local server's.
    server = make_proxy_server(MemoryEngine(), host=MemoryWireServer.host, port=0)
    address = await server.start()
    try:
        stop = asyncio.Event()
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(lambda: EndOfInput(stop), sys.stdin)
        sys.stdout.write(f"{address.port}\n")
        sys.stdout.flush()
        await stop.wait()
        transport.close()
    finally:
        await server.close()


if __name__ == "__main__":
    asyncio.run(_serve())
