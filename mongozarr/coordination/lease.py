"""Leases: expiring, fenced locks on node paths, kept in ``<prefix>.locks``.

One lock document per lease name (usually a node path)::

    {_id: "raw/img1", owner: "3f2a…" | None, expires_at: ISODate, fence: 7}

A grant is ONE ``find_one_and_update`` with upsert on
``{_id: name, $or: [{owner: None}, {expires_at <= now}]}``: if the lease is
free or expired the update takes it and increments ``fence``; if another
owner holds it the filter misses, the upsert collides with the existing
``_id`` and MongoDB answers ``DuplicateKeyError``, so exactly one caller wins.
The document is never deleted (release sets ``owner`` to ``None``), so
``fence`` grows with every grant, and a holder can pass it to whatever it
writes so that a storage layer can refuse writes from an older fence.

Clocks: on a MongoDB server, expiry is computed and compared with the
server's clock (``$$NOW`` in an update pipeline and in ``$expr``), so client
clock skew does not matter. The in-process mongomock backend has no
``$$NOW``; there the client's clock is the server's clock anyway.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import random
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError
from zarr.core.sync import sync

from mongozarr.errors import LeaseLost, LeaseTimeout
from mongozarr.storage.faults import reading, writing

if TYPE_CHECKING:
    from mongozarr.storage.store import MongoStore

__all__ = ["DEFAULT_TTL", "Lease", "lease", "lease_async", "lease_status", "lease_status_async"]

#: Seconds a lease lasts unless renewed.
DEFAULT_TTL = 30.0
# Retry delays while waiting: short first (chunk leases are held for one
# chunk write), growing to a ceiling, with jitter so waiters do not march in step.
_FIRST_DELAY = 0.01
_MAX_DELAY = 0.5


@dataclass
class Lease:
    """A granted lease; use through :func:`lease` or :func:`lease_async`.

    Attributes
    ----------
    name
        What is leased (usually a node path).
    token
        This holder's owner token, unique per grant.
    fence
        The fencing number of this grant: larger than that of every earlier grant of ``name``.
    expires_at
        When the lease expires unless renewed (the server's clock, UTC).
    ttl
        The lease duration in seconds, used again by :meth:`renew`.
    """

    store: MongoStore
    name: str
    token: str
    fence: int
    expires_at: datetime.datetime
    ttl: float

    @writing
    async def renew_async(self, ttl: float | None = None) -> None:
        """Async form of :meth:`renew`."""
        self.store.check_writable()
        ttl = self.ttl if ttl is None else ttl
        doc = await _locks(self.store).find_one_and_update(
            {"_id": self.name, "owner": self.token},
            [{"$set": {"expires_at": _expiry((await self.store.capabilities()).server_clock, ttl)}}],
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            raise LeaseLost(f"lease {self.name!r} (fence {self.fence}) is no longer held by this owner")
        self.expires_at = _utc(doc["expires_at"])
        self.ttl = ttl

    def renew(self, ttl: float | None = None) -> None:
        """Extend the lease by ``ttl`` seconds from now (default: the lease's ttl).

        Raises
        ------
        LeaseLost
            If the lease expired and another holder took it meanwhile.
        """
        sync(self.renew_async(ttl))

    @writing
    async def release_async(self) -> bool:
        """Async form of :meth:`release`."""
        self.store.check_writable()
        result = await _locks(self.store).update_one(
            {"_id": self.name, "owner": self.token}, {"$set": {"owner": None}}
        )
        return bool(result.matched_count)

    def release(self) -> bool:
        """Give the lease up; False if it had already passed to another owner."""
        return sync(self.release_async())


def _locks(store: MongoStore) -> Any:
    return store.database()[store.layout.locks]


def _expiry(server_clock: bool, ttl: float) -> Any:
    """An aggregation expression for "now + ttl" on the right clock.

    A backend without a server clock runs in this process (mongomock), so the
    client's clock is its clock.
    """
    if server_clock:
        return {"$add": ["$$NOW", int(ttl * 1000)]}
    return {"$literal": datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=ttl)}


def _expired(server_clock: bool) -> dict[str, Any]:
    if server_clock:
        return {"$expr": {"$lte": ["$expires_at", "$$NOW"]}}
    return {"expires_at": {"$lte": datetime.datetime.now(datetime.UTC)}}


def _utc(value: datetime.datetime) -> datetime.datetime:
    # PyMongo returns naive datetimes in UTC unless tz_aware is set.
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def _new_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"


@writing
async def _try_acquire(store: MongoStore, name: str, ttl: float) -> Lease | None:
    """One attempt: the lease if it was free or expired, else None."""
    if ttl <= 0:
        raise ValueError(f"ttl must be positive, got {ttl}")
    store.check_writable()
    clock = (await store.capabilities()).server_clock
    token = _new_token()
    try:
        doc = await _locks(store).find_one_and_update(
            {"_id": name, "$or": [{"owner": None}, _expired(clock)]},
            [
                {
                    "$set": {
                        "owner": token,
                        "expires_at": _expiry(clock, ttl),
                        "fence": {"$add": [{"$ifNull": ["$fence", 0]}, 1]},
                    }
                }
            ],
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
    except DuplicateKeyError:
        # Held by someone else: the filter missed and the upsert hit the _id.
        return None
    return Lease(store, name, token, int(doc["fence"]), _utc(doc["expires_at"]), ttl)


def _delays(wait: float | None) -> Iterator[float]:
    """Sleep durations between attempts until ``wait`` seconds have passed."""
    deadline = None if wait is None else time.monotonic() + wait
    delay = _FIRST_DELAY
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return
        yield delay * random.uniform(0.5, 1.0) if left is None else min(left, delay * random.uniform(0.5, 1.0))
        delay = min(delay * 2, _MAX_DELAY)


async def _acquire(store: MongoStore, name: str, ttl: float, wait: float | None) -> Lease:
    """Take the lease ``name``, waiting up to ``wait`` seconds (None: forever)."""
    held = await _try_acquire(store, name, ttl)
    if held is not None:
        return held
    for delay in _delays(wait):
        await asyncio.sleep(delay)
        held = await _try_acquire(store, name, ttl)
        if held is not None:
            return held
    raise LeaseTimeout(f"lease {name!r} is held by another owner; gave up after {wait} s")


@asynccontextmanager
async def lease_async(
    store: MongoStore, name: str, *, ttl: float = DEFAULT_TTL, wait: float | None = 0.0
) -> AsyncIterator[Lease]:
    """Async form of :func:`lease`: ``async with lease_async(store, name) as held:``."""
    held = await _acquire(store, name, ttl, wait)
    try:
        yield held
    finally:
        await held.release_async()


@contextmanager
def lease(
    store: MongoStore, name: str, *, ttl: float = DEFAULT_TTL, wait: float | None = 0.0
) -> Iterator[Lease]:
    """Hold an exclusive, expiring lease on ``name`` for the ``with`` block.

    Parameters
    ----------
    store
        The store whose ``<prefix>.locks`` collection keeps the lease.
    name
        What to lease, usually a node path (``"raw/img1"``).
    ttl
        Seconds until the lease expires unless renewed with
        :meth:`Lease.renew`; a crashed holder's lease frees itself after this.
    wait
        Seconds to keep trying while someone else holds it (0: one try,
        None: forever).

    Yields
    ------
    Lease
        With ``fence``, the fencing number of this grant.

    Raises
    ------
    LeaseTimeout
        If the lease could not be taken within ``wait`` seconds.
    ValueError
        If ``ttl`` is not positive, or the store is read-only.

    Warnings
    --------
    A lease is advisory and time-bound: a holder that runs past its expiry
    without renewing may find the lease granted to another writer (its
    :meth:`Lease.renew` then raises :class:`LeaseLost`). Use the fence to
    reject such late writes where it matters.
    """
    # The waiting between attempts is asyncio.sleep on zarr's loop thread: it
    # blocks this thread only, not the loop.
    held = sync(_acquire(store, name, ttl, wait))
    try:
        yield held
    finally:
        held.release()


@reading
async def lease_status_async(store: MongoStore, name: str) -> dict[str, Any] | None:
    """Async form of :func:`lease_status`."""
    return await _locks(store).find_one({"_id": name})


def lease_status(store: MongoStore, name: str) -> dict[str, Any] | None:
    """The lock document of ``name`` (owner, expires_at, fence), or None if never leased."""
    return sync(lease_status_async(store, name))
