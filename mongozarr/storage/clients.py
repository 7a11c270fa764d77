"""One ``AsyncMongoClient`` per event loop, and the guarantee that each is closed.

``AsyncMongoClient`` binds to the first event loop that uses it, so a
connection keeps one per loop. Every client is closed exactly once, by
whichever comes first:

- ``store.close()`` (:meth:`LoopClients.close`);
- the end of its loop: ``asyncio.run`` and ``asyncio.Runner`` finalize the
  loop's async generators before closing it, and each client has one whose
  ``finally`` closes it;
- the garbage collection of its connection: a ``weakref.finalize`` schedules the
  close on the client's loop. The clients live in this object, not in the
  connection, so they never become garbage with it (the collector would
  otherwise finalize their sockets before any close could run);
- interpreter exit, while zarr's loop thread still runs.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

# Imported for its exit hook, which must be registered before ours (hooks run last first).
import zarr.core.sync  # noqa: F401

__all__ = ["LoopClients"]

# Close tasks started without waiting, kept alive until they finish.
_PENDING: set[asyncio.Future[Any]] = set()
_ALL: weakref.WeakSet[LoopClients] = weakref.WeakSet()
# Every loop a client was made for: closes may be pending there at exit.
_LOOPS: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


async def _closer(client: Any) -> Any:
    try:
        yield
    finally:
        await client.close()


def _keep(future: asyncio.Future[Any]) -> None:
    _PENDING.add(future)
    future.add_done_callback(_PENDING.discard)


class LoopClients:
    """The clients of one connection, one per event loop, each closed once."""

    def __init__(self, new_client: Callable[[], Any]) -> None:
        self._new_client = new_client
        # loop id -> (the loop, its client, the generator whose finally closes it)
        self._entries: dict[int, tuple[weakref.ref[asyncio.AbstractEventLoop], Any, Any]] = {}
        self._pid = os.getpid()
        self._guard = threading.Lock()
        _ALL.add(self)

    def for_running_loop(self) -> Any:
        """The client of the running event loop, created on first use."""
        loop = asyncio.get_running_loop()
        # Fast path without the lock (called per store key): a dict read is atomic.
        entry = self._entries.get(id(loop))
        if entry is not None and entry[0]() is loop and self._pid == os.getpid():
            return entry[1]
        with self._guard:
            if self._pid != os.getpid():
                # A forked child must not reuse (or close) the parent's sockets.
                self._entries.clear()
                self._pid = os.getpid()
            entry = self._entries.get(id(loop))
            if entry is None or entry[0]() is not loop:
                self._forget_closed_loops()
                client = self._new_client()
                entry = (weakref.ref(loop), client, self._close_with(loop, client))
                self._entries[id(loop)] = entry
                _LOOPS.add(loop)
        return entry[1]

    @staticmethod
    def _close_with(loop: asyncio.AbstractEventLoop, client: Any) -> Any:
        # Started on the loop, the generator is finalized by the loop's shutdown_asyncgens().
        generator = _closer(client)
        _keep(loop.create_task(generator.__anext__()))  # type: ignore[arg-type]
        return generator

    def _forget_closed_loops(self) -> None:
        for key, (loop_ref, _client, _closer_) in list(self._entries.items()):
            loop = loop_ref()
            if loop is None or loop.is_closed():
                del self._entries[key]

    async def close_async(self) -> None:
        """Close every client, the running loop's by awaiting its close."""
        loop = asyncio.get_running_loop()
        with self._guard:
            entry = self._entries.pop(id(loop), None)
        if entry is not None and entry[0]() is loop:
            await entry[2].aclose()
        await asyncio.to_thread(self.close)

    def close(self, timeout: float | None = 2.0) -> None:
        """Close every client; the next use opens new ones.

        A client on a loop running in another thread is closed there, waiting
        up to ``timeout`` (``None``: not waiting, as from a finalizer); one on
        a stopped loop by running that loop (unless not waiting). The client of
        the caller's own running loop stays until that loop ends (a close task
        there could be cancelled by the loop's shutdown): use
        :meth:`close_async` to close it now. Clients on closed loops were closed
        with their loop.
        """
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        with self._guard:
            mine = {key: e for key, e in self._entries.items() if running is not None and e[0]() is running}
            entries = [e for key, e in self._entries.items() if key not in mine]
            self._entries = mine
        if self._pid != os.getpid():
            return
        for loop_ref, _client, closer in entries:
            loop = loop_ref()
            if loop is None or loop.is_closed():
                continue
            # Finishing the generator runs its finally (closing the client) and
            # leaves nothing for the loop's async-generator finalizer.
            if loop.is_running():
                if timeout is None:
                    loop.call_soon_threadsafe(lambda lp=loop, c=closer: _keep(lp.create_task(c.aclose())))
                    continue
                future = asyncio.run_coroutine_threadsafe(closer.aclose(), loop)
                try:
                    future.result(timeout)
                except (concurrent.futures.TimeoutError, RuntimeError):
                    future.cancel()
            elif timeout is not None:
                loop.run_until_complete(closer.aclose())


# At exit, every close together, within this many seconds in all.
_EXIT_BUDGET = 5.0


@atexit.register
def _close_at_exit() -> None:
    # Registered after zarr's own exit hook (zarr is imported first), so it runs
    # first, while zarr's event loop thread can still run the clients' close().
    # The closes start together, then one wait per loop bounds the whole exit.
    for clients in list(_ALL):
        clients.close(timeout=None)
    deadline = time.monotonic() + _EXIT_BUDGET
    for loop in list(_LOOPS):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not loop.is_running() or loop.is_closed():
            continue
        # Runs on the loop after the callbacks that started the closes.
        waiting = asyncio.run_coroutine_threadsafe(_pending_closes(loop, remaining), loop)
        try:
            waiting.result(remaining + 0.5)
        except (concurrent.futures.TimeoutError, RuntimeError):
            waiting.cancel()


async def _pending_closes(loop: asyncio.AbstractEventLoop, timeout: float) -> None:
    futures = [future for future in _PENDING if future.get_loop() is loop]
    if futures:
        await asyncio.wait(futures, timeout=timeout)
