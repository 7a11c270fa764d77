"""What a store says when the network fails: one mapping from PyMongo's errors to mongozarr's.

- The server cannot be reached (server selection timed out): nothing was done;
  :class:`~mongozarr.errors.ServerUnavailableError`.
- The connection broke or timed out during a read: nothing was changed; the
  same error, which says so.
- The connection broke or timed out during a write: the server may or may not
  have applied it (a cut after the server applied it and before the reply
  arrived is indistinguishable from a cut before). PyMongo retries a write
  once by itself where the server supports retryable writes (replica sets);
  what still fails is :class:`~mongozarr.errors.WriteOutcomeUnknownError`:
  read back before deciding to repeat a non-idempotent update such as ``$inc``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError

from mongozarr.errors import ServerUnavailableError, WriteOutcomeUnknownError
from mongozarr.redaction import redact

__all__ = ["fault", "reading", "writing"]

F = TypeVar("F", bound=Callable[..., Any])


def fault(exc: ConnectionFailure, what: str, *, write: bool) -> Exception:
    """The mongozarr error for a PyMongo connection failure during ``what``."""
    detail = redact(str(exc))
    if isinstance(exc, ServerSelectionTimeoutError):
        return ServerUnavailableError(f"{what}: cannot reach the MongoDB server; nothing was done ({detail})")
    if write:
        return WriteOutcomeUnknownError(
            f"{what}: the connection failed during the write, which may or may not have been applied; "
            f"read the value back before repeating a non-idempotent change ({detail})"
        )
    return ServerUnavailableError(f"{what}: the connection failed during a read; nothing was changed ({detail})")


def _mapped(function: F, write: bool) -> F:
    # The qualified name says where: "MongoStore.get", "link_async".
    what = function.__qualname__
    if inspect.isasyncgenfunction(function):

        @functools.wraps(function)
        async def generator(*args: Any, **kwargs: Any) -> Any:
            try:
                async for item in function(*args, **kwargs):
                    yield item
            except ConnectionFailure as exc:
                raise fault(exc, what, write=write) from exc

        return generator  # type: ignore[return-value]

    @functools.wraps(function)
    async def coroutine(*args: Any, **kwargs: Any) -> Any:
        try:
            return await function(*args, **kwargs)
        except ConnectionFailure as exc:
            raise fault(exc, what, write=write) from exc

    return coroutine  # type: ignore[return-value]


def reading(function: F) -> F:
    """Map connection failures of a read (a coroutine or an async generator, method or function)."""
    return _mapped(function, write=False)


def writing(function: F) -> F:
    """Map connection failures of a write (method or function): the outcome is unknown."""
    return _mapped(function, write=True)
