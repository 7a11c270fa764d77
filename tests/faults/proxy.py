"""A TCP proxy in front of a test server that cuts or stalls chosen requests, on cue.

Every client connection is relayed to the server. ``arm(marker, action)``
makes the proxy act on the next client message that contains ``marker``
(bytes of the command, e.g. ``b"findAndModify"``):

- ``"cut-after"``: forward the message, then close both sides before the reply
  returns (the server has the request; the client never learns the outcome);
- ``"cut-before"``: close both sides without forwarding it;
- ``"stall"``: swallow it and never answer (a hung server).

It runs an asyncio server on 127.0.0.1 in a thread; ``fired`` is an Event set
when the action happened, so tests wait on it rather than on time.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Self

__all__ = ["FaultProxy"]


class FaultProxy:
    """A cutting, stalling TCP proxy; use as a context manager."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._armed: tuple[bytes, str] | None = None
        self._times = 0
        self._lock = threading.Lock()
        self._writers: set[asyncio.StreamWriter] = set()
        self.fired = threading.Event()
        self.port = 0

    def __enter__(self) -> Self:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._relay, "127.0.0.1", 0), self._loop
        ).result(60)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(60)
        self._loop.close()

    def uri(self, database: str, **options: object) -> str:
        query = "&".join(["directConnection=true", *(f"{k}={v}" for k, v in options.items())])
        return f"mongodb://127.0.0.1:{self.port}/{database}?{query}"

    def arm(self, marker: bytes, action: str, times: int = 1) -> None:
        """Act on the next ``times`` client messages containing ``marker``."""
        assert action in ("cut-after", "cut-before", "stall")
        with self._lock:
            self._armed = (marker, action)
            self._times = times
            self.fired.clear()

    def _take(self, data: bytes) -> str | None:
        with self._lock:
            if self._armed is not None and self._armed[0] in data:
                action = self._armed[1]
                self._times -= 1
                if self._times == 0:
                    self._armed = None
                return action
        return None

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(*self._target)
        self._writers.update((client_writer, server_writer))
        cut = asyncio.Event()

        async def upstream() -> None:
            while data := await client_reader.read(65536):
                action = self._take(data)
                if action == "stall":
                    self.fired.set()
                    await cut.wait()  # never forwarded, never answered
                    return
                if action == "cut-before":
                    cut.set()
                    self.fired.set()
                    return
                server_writer.write(data)
                await server_writer.drain()
                if action == "cut-after":
                    # Give the server the request, and the client no reply.
                    cut.set()
                    self.fired.set()
                    return

        async def downstream() -> None:
            while not cut.is_set() and (data := await server_reader.read(65536)):
                if cut.is_set():
                    return
                client_writer.write(data)
                await client_writer.drain()

        tasks = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        await asyncio.wait([*tasks, asyncio.ensure_future(cut.wait())], return_when=asyncio.FIRST_COMPLETED)
        for writer in (client_writer, server_writer):
            writer.close()
            self._writers.discard(writer)
        for task in tasks:
            task.cancel()
