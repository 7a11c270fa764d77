"""Run a long coroutine from synchronous code so that Ctrl-C stops it, not just the caller.

zarr's ``sync()`` runs coroutines on its own event loop in a background
thread. When the caller is interrupted (Ctrl-C in a terminal or a notebook),
only the waiting thread sees ``KeyboardInterrupt``: the coroutine goes on in
the background, and at exit its tasks are destroyed half-way ("Task was
destroyed but it is pending", "Event loop is closed"). Here the interrupt
also cancels the coroutine and waits until it has unwound (its workers
cancelled, its stores closed, the database requests it had already sent
finished rather than cut off mid-write) before ``KeyboardInterrupt`` reaches
the caller.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from zarr.core.sync import sync

from mongozarr.storage.batching import drain

__all__ = ["run_interruptible"]

T = TypeVar("T")
# How long an interrupted operation waits for its requests already sent.
_DRAIN_SECONDS = 10.0


def run_interruptible(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on zarr's event loop; on ``KeyboardInterrupt`` cancel it and wait for it to end."""
    lock = threading.Lock()
    finished = threading.Event()
    running: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = []
    abandoned = False

    async def guarded() -> T:
        with lock:  # the interrupt may come before this runs: then it never starts
            if abandoned:
                coroutine.close()
                raise asyncio.CancelledError
            task = asyncio.current_task()
            assert task is not None
            running.append((asyncio.get_running_loop(), task))
        try:
            return await coroutine
        finally:
            try:
                if abandoned:
                    await drain(_DRAIN_SECONDS)  # requests already sent finish, not cut off
            finally:
                finished.set()

    try:
        return sync(guarded())
    except KeyboardInterrupt:
        with lock:
            abandoned = True
            started = list(running)
        for loop, task in started:
            loop.call_soon_threadsafe(task.cancel)
            finished.wait()  # a second Ctrl-C interrupts this wait too
        raise
