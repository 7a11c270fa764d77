"""An async facade over mongomock, the in-process embedded default.

mongomock mimics PyMongo's synchronous API only. mongozarr talks to MongoDB
through PyMongo's async API, so this module gives a mongomock database the
few async methods mongozarr uses. mongomock is in memory and never blocks, so
each call runs inline; one lock per client serialises them because mongomock
is not thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["AsyncMockDatabase"]

_LOCKS: dict[int, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(client: Any) -> threading.RLock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(id(client), threading.RLock())


class _Cursor:
    """The subset of ``AsyncCursor`` mongozarr uses."""

    def __init__(self, run: Callable[[], Any], lock: threading.RLock) -> None:
        self._run = run
        self._lock = lock
        self._modifiers: list[tuple[str, tuple[Any, ...]]] = []

    def sort(self, *args: Any) -> _Cursor:
        self._modifiers.append(("sort", args))
        return self

    def limit(self, n: int) -> _Cursor:
        self._modifiers.append(("limit", (n,)))
        return self

    def skip(self, n: int) -> _Cursor:
        self._modifiers.append(("skip", (n,)))
        return self

    def batch_size(self, n: int) -> _Cursor:
        return self

    def _results(self) -> list[Any]:
        with self._lock:
            cursor = self._run()
            for name, args in self._modifiers:
                cursor = getattr(cursor, name)(*args)
            return list(cursor)

    async def to_list(self, length: int | None = None) -> list[Any]:
        results = self._results()
        return results if length is None else results[:length]

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        for item in self._results():
            yield item


# mongomock refuses an update it cannot apply with a Python error where MongoDB
# answers OperationFailure; it also lacks $mul and $rename of nested fields.
_UPDATES = frozenset({"find_one_and_update", "update_one", "update_many"})
_REFUSALS = (NotImplementedError, TypeError, ValueError)


def _refused(exc: Exception) -> Exception:
    from pymongo.errors import OperationFailure

    return OperationFailure(
        f"{exc} (in-process mongomock backend, which also lacks $mul and $rename of nested fields)"
    )


class AsyncMockCollection:
    """The subset of ``AsyncCollection`` mongozarr uses, over mongomock."""

    def __init__(self, collection: Any, lock: threading.RLock) -> None:
        self._collection = collection
        self._lock = lock
        self.name = collection.name

    def find(self, *args: Any, **kwargs: Any) -> _Cursor:
        kwargs.pop("batch_size", None)
        return _Cursor(lambda: self._collection.find(*args, **kwargs), self._lock)

    async def aggregate(self, pipeline: list[Any], **kwargs: Any) -> _Cursor:
        kwargs.pop("batchSize", None)
        return _Cursor(lambda: self._collection.aggregate(pipeline, **kwargs), self._lock)

    async def bulk_write(self, requests: list[Any], ordered: bool = True) -> None:
        """Apply PyMongo write models one by one (mongomock's bulk_write breaks on PyMongo 4.20)."""
        from pymongo import DeleteOne, InsertOne, ReplaceOne, UpdateOne
        from pymongo.errors import BulkWriteError, DuplicateKeyError

        errors = []
        with self._lock:
            for index, request in enumerate(requests):
                try:
                    if isinstance(request, ReplaceOne):
                        self._collection.replace_one(request._filter, request._doc, upsert=request._upsert)
                    elif isinstance(request, UpdateOne):
                        self._collection.update_one(request._filter, request._doc, upsert=request._upsert)
                    elif isinstance(request, InsertOne):
                        self._collection.insert_one(request._doc)
                    elif isinstance(request, DeleteOne):
                        self._collection.delete_one(request._filter)
                    else:
                        raise TypeError(f"unsupported bulk write request {request!r}")
                except DuplicateKeyError as error:
                    errors.append({"index": index, "code": 11000, "errmsg": str(error)})
                    if ordered:
                        break
        if errors:
            raise BulkWriteError({"writeErrors": errors, "writeConcernErrors": [], "nInserted": 0,
                                  "nUpserted": 0, "nMatched": 0, "nModified": 0, "nRemoved": 0,
                                  "upserted": []})

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._collection, name)
        refusals = _REFUSALS if name in _UPDATES else ()

        async def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                try:
                    return method(*args, **kwargs)
                except refusals as exc:
                    raise _refused(exc) from None

        return call


class AsyncMockDatabase:
    """The subset of ``AsyncDatabase`` mongozarr uses, over mongomock."""

    def __init__(self, database: Any) -> None:
        self._database = database
        self._lock = _lock_for(database.client)
        self.name = database.name

    def __getitem__(self, name: str) -> AsyncMockCollection:
        return AsyncMockCollection(self._database[name], self._lock)

    async def command(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._database.command(*args, **kwargs)
