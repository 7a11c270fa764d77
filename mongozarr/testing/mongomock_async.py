"""The async facade over mongomock, the in-process embedded default.

mongomock mimics PyMongo's synchronous API only; mongozarr reaches it through
the generic facade of :mod:`mongozarr.storage.sync_facade`. mongomock is in
memory and never blocks, so each call runs inline, under one lock per client
because mongomock is not thread-safe. What is mongomock's alone lives here:
the lock, its refusals mapped to PyMongo's errors, options it does not take,
and a bulk write replayed request by request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from mongozarr.storage.sync_facade import SyncFacadeCollection, SyncFacadeCursor, SyncFacadeDatabase
from mongozarr.storage.writes import Delete, Insert, Replace, Update

__all__ = ["AsyncMockDatabase"]

T = TypeVar("T")
_LOCKS: dict[int, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()
_DUPLICATE_KEY = 11000

# mongomock refuses an update it cannot apply with a Python error where MongoDB
# answers OperationFailure; it also lacks $mul and $rename of nested fields.
_UPDATES = frozenset({"find_one_and_update", "update_one", "update_many"})
_REFUSALS = (NotImplementedError, TypeError, ValueError)


def _lock_for(client: Any) -> threading.RLock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(id(client), threading.RLock())


def _refused(exc: Exception) -> Exception:
    from pymongo.errors import OperationFailure

    return OperationFailure(
        f"{exc} (in-process mongomock backend, which also lacks $mul and $rename of nested fields)"
    )


class _Inline:
    """Runs each call at once, holding the client's lock."""

    def __init__(self, lock: threading.RLock) -> None:
        self.lock = lock

    async def __call__(self, call: Callable[[], T]) -> T:
        with self.lock:
            return call()


class AsyncMockCollection(SyncFacadeCollection):
    """A mongomock collection behind PyMongo's async API."""

    # A mongomock cursor iterates the live collection: read it in one call.
    iteration_batch = None

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        # docstring inherited
        try:
            return await super().call(method, *args, **kwargs)
        except _REFUSALS as exc:
            if method not in _UPDATES:
                raise
            raise _refused(exc) from None

    def find(self, *args: Any, **kwargs: Any) -> SyncFacadeCursor:
        kwargs.pop("batch_size", None)
        return super().find(*args, **kwargs)

    async def aggregate(self, pipeline: list[Any], **kwargs: Any) -> SyncFacadeCursor:
        kwargs.pop("batchSize", None)
        return await super().aggregate(pipeline, **kwargs)

    async def bulk_write(self, requests: list[Any], ordered: bool = True) -> None:
        """Apply the requests one by one (mongomock's bulk_write breaks on PyMongo 4.20).

        Requests are :mod:`mongozarr.storage.writes` descriptions.
        """
        from pymongo.errors import BulkWriteError, DuplicateKeyError

        errors = []
        for index, request in enumerate(requests):
            try:
                await self._apply(request)
            except DuplicateKeyError as error:
                errors.append({"index": index, "code": _DUPLICATE_KEY, "errmsg": str(error)})
                if ordered:
                    break
        if errors:
            raise BulkWriteError({"writeErrors": errors, "writeConcernErrors": [], "nInserted": 0,
                                  "nUpserted": 0, "nMatched": 0, "nModified": 0, "nRemoved": 0,
                                  "upserted": []})

    async def _apply(self, request: Any) -> None:
        if isinstance(request, Replace):
            await self.call("replace_one", request.filter, request.document, upsert=request.upsert)
        elif isinstance(request, Update):
            await self.call("update_one", request.filter, request.update, upsert=request.upsert)
        elif isinstance(request, Insert):
            await self.call("insert_one", request.document)
        elif isinstance(request, Delete):
            await self.call("delete_one", request.filter)
        else:
            raise TypeError(
                f"unsupported bulk write request {request!r}: describe it with mongozarr.storage.writes"
            )


class AsyncMockDatabase(SyncFacadeDatabase):
    """A mongomock database behind PyMongo's async API."""

    collection_class = AsyncMockCollection

    def __init__(self, database: Any) -> None:
        super().__init__(database, _Inline(_lock_for(database.client)))
