"""Coalesce concurrent requests into one database round trip.

zarr calls a store once per chunk and keeps up to ``async.concurrency``
calls in flight. Against a database every call is a round trip, so
concurrent requests are gathered here and served by one batch call
(``find({_id: {$in: ...}})``, one ``bulk_write``).

When a batch is sent: from an idle coalescer, the requests of one event-loop
turn go together (zarr starts its first ``async.concurrency`` reads in one
turn). Once traffic flows that is not enough: zarr decodes (or encodes) each
chunk in a worker thread while holding its concurrency slot, so callers come
back one by one, in different loop turns, and a per-turn flush would send
singletons. A coalescer given a ``fill`` target (zarr's concurrency) therefore
holds requests, while a batch is in flight or was just delivered, until the
batch reaches the target, and at most one :meth:`Coalescer.linger` (about one
batch round trip: no longer than the round trip it saves) for the tail.

Writes trickle in from the start: zarr encodes every chunk in a worker thread
before its ``set``, so even its first ``async.concurrency`` calls arrive over
several loop turns, and a first batch sent at the end of the first turn comes
out short and shifts every batch after it (N chunks then cost ⌈N/C⌉+1 round
trips). A request submitted with a ``spread`` (how far apart such callers
arrive: about one encode) is held even by an idle coalescer, until the batch
fills or nobody arrived for that long. That wait buys nothing for a caller
writing one chunk at a time (each write would pay it), so a coalescer whose
last batch sent from idle was one request that nobody joined while it was in
flight sends the next idle request at once; a request arriving while a batch
is in flight (a burst) makes it hold from idle again.

A batch runs in its own task: cancelling one caller never cancels the batch
its neighbours wait on, and a failure that belongs to one item is delivered to
that item's caller only.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

__all__ = ["Coalescer", "PerLoop", "drain"]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

#: A batch function gets the distinct items of one batch, each with the payloads
#: submitted for it in order, and returns a result or an exception per item.
BatchFunction = Callable[[dict[K, list[Any]]], Awaitable[dict[K, Any]]]

# Bounds of the hold, in seconds. The floor covers a worker thread's decode or
# encode of a small chunk on a busy machine; the ceiling keeps a slow server
# (or a large chunk's encode) from stalling a tail.
_MIN_LINGER = 0.005
_MAX_LINGER = 0.1
# Loop turns a hold waits past its deadline before it sends. Worker threads can
# starve the loop of the GIL: callers whose encode ended meanwhile are queued
# behind the expired timer, a few task steps (zarr starts a task per set) from
# their submit, and would miss a batch they were in time for.
_SETTLE_TURNS = 4


# Every batch sent and not finished, of every coalescer (see drain).
_SENT: weakref.WeakSet[asyncio.Task[None]] = weakref.WeakSet()


async def drain(timeout: float) -> None:
    """Wait (at most ``timeout`` seconds) for the batches sent on the running loop to finish.

    Run when an operation is cancelled (Ctrl-C), so that its requests already
    on the wire complete instead of being cut off, and no batch task is left
    pending when the loop or the process ends.
    """
    loop = asyncio.get_running_loop()
    sent = [task for task in _SENT if task.get_loop() is loop and not task.done()]
    if sent:
        await asyncio.wait(sent, timeout=timeout)


class Coalescer(Generic[K]):
    """Gathers concurrent ``submit`` calls into batches of at most ``max_batch()``.

    Bound to the event loop it is created on.

    Parameters
    ----------
    run_batch
        Serves one batch (see :data:`BatchFunction`).
    max_batch
        The largest batch, asked at each submit.
    fill
        The batch size worth waiting for while traffic flows (the callers'
        concurrency); ``None``: each loop turn's requests go together.
    """

    def __init__(
        self,
        run_batch: BatchFunction[K],
        max_batch: Callable[[], int],
        *,
        fill: Callable[[], int] | None = None,
    ) -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._fill = fill
        self._pending: dict[K, tuple[list[Any], list[asyncio.Future[Any]]]] = {}
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references
        # Traffic flows while a batch is in flight or callers of a delivered one are
        # not back yet; a hold that expires counts those as gone.
        self._in_flight = 0
        self._returning = 0
        # When the pending requests stop waiting for more, and the spread of the latest one.
        self._deadline = 0.0
        self._spread = 0.0
        self._hold: asyncio.Handle | None = None
        self._round_trip: float | None = None
        self.batches = 0
        # Requests submitted so far, and whether the traffic is lone requests
        # (then an idle coalescer does not hold requests with a spread).
        self._arrivals = 0
        self._lone = False
        self._idle_arrival: Any = None  # the item of the latest request that found the coalescer idle

    def linger(self) -> float:
        """The longest a request is held for its batch to fill: about one batch round trip."""
        if self._round_trip is None:
            return _MIN_LINGER
        return min(_MAX_LINGER, max(_MIN_LINGER, self._round_trip))

    async def submit(self, item: K, payload: Any = None, *, spread: float = 0.0) -> Any:
        """Queue ``item`` (with ``payload``) for the next batch and wait for its result.

        ``spread`` (seconds) says that callers like this one start together but
        arrive up to that far apart (zarr encodes each chunk in a worker thread
        before writing it): with a ``fill`` target the request is then held
        even when no batch is in flight, until the batch fills or nobody came
        for ``spread`` (bounded like :meth:`linger`). ``0``: an idle coalescer
        sends the requests of this loop turn.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._idle_arrival = item if self._in_flight == 0 and not self._pending else None
        if item in self._pending:
            # The same item twice before a flush: one request, every payload kept in order.
            payloads, waiters = self._pending[item]
            payloads.append(payload)
            waiters.append(future)
        else:
            self._pending[item] = ([payload], [future])
        self._returning = max(0, self._returning - 1)
        self._arrivals += 1
        if self._in_flight > 0:
            self._lone = False  # requests overlap: a burst, worth holding for
        size = max(1, self._max_batch())
        if len(self._pending) >= size:
            self._flush()  # a full batch waits for nobody
        elif not self._scheduled:
            hold = self._hold_for(size, spread)
            if hold is not None:
                self._deadline = max(self._deadline, loop.time() + hold)
                self._arm_hold(loop)
            else:
                # What else arrives in this turn joins.
                self._scheduled = True
                loop.call_soon(self._flush)
        try:
            return await future
        except asyncio.CancelledError:
            self._abandon(item, future)
            raise

    def _abandon(self, item: K, future: asyncio.Future[Any]) -> None:
        """A caller was cancelled: drop its request if its batch has not been sent.

        A batch already sent runs to its end even when nobody waits for it any
        more: cut off mid-request, a write leaves the server to clean up after a
        dropped connection, and the local server (mongoeco) can be left with its
        database locked. :func:`drain` lets a cancelled operation wait for them.
        """
        pending = self._pending.get(item)
        if pending is not None and future in pending[1]:
            index = pending[1].index(future)
            del pending[0][index], pending[1][index]
            if not pending[1]:
                del self._pending[item]

    def _hold_for(self, size: int, spread: float) -> float | None:
        """How long after this arrival the pending requests wait for more; ``None``: not at all.

        They wait while the batch is not filled and more callers are due:
        those of a batch in flight or just delivered, for about one round
        trip; or, for a request with a ``spread``, its peers still encoding,
        for that spread (what a lone write pays).
        """
        if self._fill is None or len(self._pending) >= min(size, max(1, self._fill())):
            return None
        wait = 0.0
        if spread > 0:
            wait = self._spread = min(_MAX_LINGER, max(_MIN_LINGER, spread))
        if self._in_flight > 0 or self._returning > 0:
            return max(wait, self.linger())
        return wait if spread > 0 and not self._lone else None

    def _arm_hold(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bound the wait for callers coming back; it starts once no batch is in flight."""
        if self._hold is None and self._in_flight == 0 and self._pending:
            self._hold = loop.call_at(self._deadline, self._hold_expired, loop)

    def _hold_expired(self, loop: asyncio.AbstractEventLoop, turns: int | None = None) -> None:
        self._hold = None
        if loop.time() < self._deadline:
            # Callers still trickle in (zarr encodes in worker threads): wait on.
            self._arm_hold(loop)
            return
        turns = _SETTLE_TURNS if turns is None else turns
        if turns > 0:
            # Let the callers already queued behind this timer arrive (see _SETTLE_TURNS).
            self._hold = loop.call_soon(self._hold_expired, loop, turns - 1)
            return
        self._returning = 0
        self._flush()

    def _flush(self) -> None:
        if self._hold is not None:
            self._hold.cancel()
            self._hold = None
        self._scheduled = False
        if not self._pending:
            return
        self._deadline = 0.0  # the deadline belonged to the requests sent now
        pending, self._pending = self._pending, {}
        items = list(pending.items())
        size = max(1, self._max_batch())
        for start in range(0, len(items), size):
            # In flight from now: requests of the next turns wait for it to fill.
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._serve(dict(items[start : start + size])))
            self._tasks.add(task)
            _SENT.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, batch: dict[K, tuple[list[Any], list[asyncio.Future[Any]]]]) -> None:
        self.batches += 1
        loop = asyncio.get_running_loop()
        started = loop.time()
        # One request that found the coalescer idle, sent alone, that nobody
        # joins while it is in flight: a lone caller.
        alone = len(batch) == 1 and self._in_flight == 1 and next(iter(batch)) == self._idle_arrival
        arrivals = self._arrivals
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
        finally:
            self._in_flight -= 1
            # Requests held behind this batch get their bound now, whatever became
            # of it (a failed or cancelled batch delivers nothing, so no caller
            # comes back to send them).
            self._arm_hold(loop)
        elapsed = loop.time() - started
        self._round_trip = elapsed if self._round_trip is None else (self._round_trip + elapsed) / 2
        if alone and self._arrivals == arrivals:
            self._lone = True
        for item, (_, waiters) in batch.items():
            result = results.get(item)
            for waiter in waiters:
                if waiter.done():  # the caller was cancelled
                    continue
                self._returning += 1
                if isinstance(result, BaseException):
                    waiter.set_exception(result)
                else:
                    waiter.set_result(result)
        # Its callers come back within about one round trip, each after its own
        # decode or encode: what is held behind this batch waits that long for them.
        self._deadline = max(self._deadline, loop.time() + max(self.linger(), self._spread))
        self._arm_hold(loop)


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
