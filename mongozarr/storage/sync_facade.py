"""PyMongo's async API over a synchronous PyMongo-like database.

A ``pymongo.MongoClient`` (or the one a Motor client wraps) passed to
:class:`~mongozarr.MongoStore` is used as given: it is not bound to an event
loop, so each call runs through a *runner* (by default in a worker thread,
``asyncio.to_thread``) and the store works from any event loop. The
in-process mongomock backend uses the same facade with an inline runner
(:mod:`mongozarr.testing.mongomock_async`).

Only the subset of ``AsyncDatabase``/``AsyncCollection`` mongozarr uses is
offered: cursors (``find`` with ``sort``/``limit``/``skip``, ``aggregate``,
``to_list``, ``async for``), every single-call method (``find_one``,
``update_one``, ``bulk_write``, ...), ``command`` and ``watch``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["Runner", "SyncFacadeCollection", "SyncFacadeCursor", "SyncFacadeDatabase", "in_thread"]

T = TypeVar("T")
#: Runs one blocking call for the event loop; the facade awaits what it returns.
Runner = Callable[[Callable[[], T]], Awaitable[T]]
# Documents fetched per worker-thread call while iterating a cursor.
_ITERATION_BATCH = 1000


async def in_thread(call: Callable[[], T]) -> T:
    """Run a blocking call in a worker thread (the runner for real servers)."""
    return await asyncio.to_thread(call)


class SyncFacadeCursor:
    """The part of ``AsyncCursor`` mongozarr uses, over a sync cursor built lazily."""

    def __init__(
        self, open_cursor: Callable[[], Any], run: Runner[Any], iteration_batch: int | None = _ITERATION_BATCH
    ) -> None:
        self._open = open_cursor
        self._run = run
        self._iteration_batch = iteration_batch
        self._modifiers: list[tuple[str, tuple[Any, ...]]] = []

    def sort(self, *args: Any) -> SyncFacadeCursor:
        self._modifiers.append(("sort", args))
        return self

    def limit(self, n: int) -> SyncFacadeCursor:
        self._modifiers.append(("limit", (n,)))
        return self

    def skip(self, n: int) -> SyncFacadeCursor:
        self._modifiers.append(("skip", (n,)))
        return self

    def batch_size(self, n: int) -> SyncFacadeCursor:
        self._modifiers.append(("batch_size", (n,)))
        return self

    def _cursor(self) -> Any:
        cursor = self._open()
        for name, args in self._modifiers:
            method = getattr(cursor, name, None)
            if method is not None:  # an aggregation cursor has no sort/limit
                cursor = method(*args)
        return cursor

    async def to_list(self, length: int | None = None) -> list[Any]:
        def fetch() -> list[Any]:
            cursor = self._cursor()
            return list(cursor if length is None else itertools.islice(cursor, length))

        return await self._run(fetch)

    async def __aiter__(self) -> AsyncIterator[Any]:
        if self._iteration_batch is None:
            for item in await self.to_list():
                yield item
            return
        size = self._iteration_batch
        cursor = await self._run(self._cursor)
        while True:
            batch = await self._run(lambda: list(itertools.islice(cursor, size)))
            for item in batch:
                yield item
            if len(batch) < size:
                return


class SyncFacadeChangeStream:
    """The part of ``AsyncChangeStream`` mongozarr uses, over a sync change stream."""

    def __init__(self, stream: Any, run: Runner[Any]) -> None:
        self._stream = stream
        self._run = run

    async def try_next(self) -> Any:
        return await self._run(self._stream.try_next)

    async def close(self) -> None:
        await self._run(self._stream.close)

    @property
    def resume_token(self) -> Any:
        return self._stream.resume_token


class SyncFacadeCollection:
    """The part of ``AsyncCollection`` mongozarr uses, over a sync collection.

    Every method not named here is the sync collection's, made awaitable
    through the runner; :meth:`call` is the one place a call runs, for
    subclasses that translate a backend's errors.
    """

    #: Documents per runner call while iterating a cursor; None: all in one call
    #: (for a backend whose cursors must not outlive one call).
    iteration_batch: int | None = _ITERATION_BATCH

    def __init__(self, collection: Any, run: Runner[Any]) -> None:
        self.collection = collection
        self.run = run
        self.name = collection.name

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``collection.<method>(*args, **kwargs)`` through the runner."""
        bound = getattr(self.collection, method)
        return await self.run(lambda: bound(*args, **kwargs))

    def find(self, *args: Any, **kwargs: Any) -> SyncFacadeCursor:
        return SyncFacadeCursor(lambda: self.collection.find(*args, **kwargs), self.run, self.iteration_batch)

    async def aggregate(self, pipeline: list[Any], **kwargs: Any) -> SyncFacadeCursor:
        return SyncFacadeCursor(
            lambda: self.collection.aggregate(pipeline, **kwargs), self.run, self.iteration_batch
        )

    async def watch(self, *args: Any, **kwargs: Any) -> SyncFacadeChangeStream:
        stream = await self.call("watch", *args, **kwargs)
        return SyncFacadeChangeStream(stream, self.run)

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if name.startswith("_"):
            raise AttributeError(name)
        getattr(self.collection, name)  # AttributeError for what the collection lacks

        async def method(*args: Any, **kwargs: Any) -> Any:
            return await self.call(name, *args, **kwargs)

        return method


class SyncFacadeDatabase:
    """The part of ``AsyncDatabase`` mongozarr uses, over a sync database.

    Parameters
    ----------
    database
        A ``pymongo.database.Database`` (or one that behaves like it).
    run
        How a blocking call is run for the event loop: :func:`in_thread`
        by default.
    """

    collection_class: type[SyncFacadeCollection] = SyncFacadeCollection

    def __init__(self, database: Any, run: Runner[Any] = in_thread) -> None:
        self.database = database
        self.run = run
        self.name = database.name

    def __getitem__(self, name: str) -> SyncFacadeCollection:
        return self.collection_class(self.database[name], self.run)

    async def command(self, *args: Any, **kwargs: Any) -> Any:
        return await self.run(lambda: self.database.command(*args, **kwargs))
