"""Coalesce concurrent requests into one database round trip.

zarr calls a store once per chunk and keeps up to ``async.concurrency``
calls in flight. Against a database every call is a round trip, so the
requests that arrive in the same event-loop turn are gathered here and served
by one batch call (``find({_id: {$in: ...}})``, one ``bulk_write``).

A batch runs in its own task: cancelling one caller never cancels the batch
its neighbours wait on, and a failure that belongs to one item is delivered to
that item's caller only.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

__all__ = ["Coalescer", "PerLoop"]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

#: A batch function gets the distinct items of one batch, each with the payloads
#: submitted for it in order, and returns a result or an exception per item.
BatchFunction = Callable[[dict[K, list[Any]]], Awaitable[dict[K, Any]]]


class Coalescer(Generic[K]):
    """Gathers ``submit`` calls made in one loop turn into batches of at most ``max_batch()``.

    Bound to the event loop it is created on.
    """

    def __init__(self, run_batch: BatchFunction[K], max_batch: Callable[[], int]) -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._pending: dict[K, tuple[list[Any], list[asyncio.Future[Any]]]] = {}
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0

    async def submit(self, item: K, payload: Any = None) -> Any:
        """Queue ``item`` (with ``payload``) for the next batch and wait for its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if item in self._pending:
            # The same item twice in one turn: one request, every payload kept in order.
            payloads, waiters = self._pending[item]
            payloads.append(payload)
            waiters.append(future)
        else:
            self._pending[item] = ([payload], [future])
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        self._scheduled = False
        items = list(pending.items())
        size = max(1, self._max_batch())
        for start in range(0, len(items), size):
            task = asyncio.get_running_loop().create_task(self._serve(dict(items[start : start + size])))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, batch: dict[K, tuple[list[Any], list[asyncio.Future[Any]]]]) -> None:
        self.batches += 1
        try:
            results = await self._run_batch({item: payloads for item, (payloads, _) in batch.items()})
        except BaseException as error:  # delivered to every waiter of this batch, never swallowed
            for _, waiters in batch.values():
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(error)
            if isinstance(error, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
                raise
            return
        for item, (_, waiters) in batch.items():
            result = results.get(item)
            for waiter in waiters:
                if waiter.done():  # the caller was cancelled
                    continue
                if isinstance(result, BaseException):
                    waiter.set_exception(result)
                else:
                    waiter.set_result(result)


class PerLoop(Generic[T]):
    """One value per event loop, made on first use in that loop (coalescers are loop-bound).

    Entries of closed or collected loops are dropped when a new loop comes.
    """

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._entries: dict[int, tuple[weakref.ref[asyncio.AbstractEventLoop], T]] = {}

    def get(self) -> T:
        """The value of the running event loop."""
        loop = asyncio.get_running_loop()
        entry = self._entries.get(id(loop))
        if entry is None or entry[0]() is not loop:
            for key, (ref, _) in list(self._entries.items()):
                gone = ref()
                if gone is None or gone.is_closed():
                    del self._entries[key]
            entry = (weakref.ref(loop), self._make())
            self._entries[id(loop)] = entry
        return entry[1]
