"""Count the round trips a block of code makes to MongoDB.

A database-backed store is bound by latency, so the number of commands it
sends per zarr operation is the figure that matters (and, unlike a timing, it
is deterministic). :class:`CommandCounter` is a PyMongo command listener;
:func:`monitored_store` builds a :class:`~mongozarr.MongoStore` whose clients
report to one::

    store, counter = monitored_store("mongodb://localhost/lab")
    with counter.measure() as trips:
        zarr.open_group(store=store, mode="r")
    print(trips.total, trips.by_command)      # e.g. 1 {'find': 1}

The store creates one client per event loop from the configuration of the
client it was given, and PyMongo keeps ``event_listeners`` in that
configuration, so every per-loop client reports to the same counter.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pymongo import monitoring

__all__ = ["CONNECTION_COMMANDS", "CommandCounter", "RoundTrips", "monitored_store"]

#: Commands a driver sends to open, check or close connections, not on behalf of
#: the code being measured (PyMongo does not publish most of them, but other
#: drivers and older servers differ).
CONNECTION_COMMANDS = frozenset(
    name.lower()
    for name in (
        "hello",
        "isMaster",
        "ping",
        "endSessions",
        "saslStart",
        "saslContinue",
        "authenticate",
        "getnonce",
        "buildInfo",
    )
)


class RoundTrips:
    """The commands counted inside one :meth:`CommandCounter.measure` block.

    While the block runs the figures are live; when it ends they freeze.
    """

    def __init__(self, counter: CommandCounter) -> None:
        self._counter: CommandCounter | None = counter
        self._start = counter.counts()
        self._frozen: Counter[str] = Counter()

    @property
    def by_command(self) -> dict[str, int]:
        """Commands sent, by command name (``find``, ``update``, ``getMore``...)."""
        if self._counter is None:
            current = self._frozen
        else:
            current = Counter(self._counter.counts())
            current.subtract(self._start)
        return {name: n for name, n in sorted(current.items()) if n}

    @property
    def total(self) -> int:
        """All commands sent: the number of round trips."""
        return sum(self.by_command.values())

    def _freeze(self) -> None:
        self._frozen = Counter(self.by_command)
        self._counter = None

    def __repr__(self) -> str:
        return f"RoundTrips(total={self.total}, by_command={self.by_command})"


class CommandCounter(monitoring.CommandListener):
    """A PyMongo command listener that counts the commands started, by name.

    Pass it to a client (``AsyncMongoClient(uri, event_listeners=[counter])``)
    and read :meth:`counts`, or wrap a block in :meth:`measure`. Connection
    handshake and heartbeat commands (:data:`CONNECTION_COMMANDS`) are not
    counted. Thread-safe: zarr's sync API runs the store on its own thread.

    Parameters
    ----------
    ignore
        Command names (case-insensitive) not to count.
    """

    def __init__(self, ignore: frozenset[str] | set[str] = CONNECTION_COMMANDS) -> None:
        self._ignore = frozenset(name.lower() for name in ignore)
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        # docstring inherited
        if event.command_name.lower() in self._ignore:
            return
        with self._lock:
            self._counts[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        # docstring inherited
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        # docstring inherited
        pass

    def counts(self) -> dict[str, int]:
        """Commands counted since creation or the last :meth:`reset`, by name."""
        with self._lock:
            return dict(self._counts)

    @property
    def total(self) -> int:
        """All commands counted since creation or the last :meth:`reset`."""
        with self._lock:
            return sum(self._counts.values())

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self._counts.clear()

    @contextmanager
    def measure(self) -> Iterator[RoundTrips]:
        """Count the commands sent while the ``with`` block runs.

        Yields
        ------
        RoundTrips
            Live counts during the block, frozen when it exits.
        """
        trips = RoundTrips(self)
        try:
            yield trips
        finally:
            trips._freeze()


def monitored_store(
    uri: str, *, counter: CommandCounter | None = None, **store_kwargs: Any
) -> tuple[Any, CommandCounter]:
    """A :class:`~mongozarr.MongoStore` on ``uri`` whose clients report to a counter.

    Parameters
    ----------
    uri
        A ``mongodb://`` or ``mongodb+srv://`` URI; its path names the database
        unless ``database`` is given. mongomock has no wire protocol to monitor.
    counter
        The listener to attach; a new :class:`CommandCounter` by default.
    **store_kwargs
        Passed to :class:`~mongozarr.MongoStore` (``database``, ``prefix``, ...).

    Returns
    -------
    tuple
        ``(store, counter)``.
    """
    from mongozarr.storage.store import MongoStore

    if not uri.startswith(("mongodb://", "mongodb+srv://")):
        raise ValueError(f"command monitoring needs a mongodb:// URI, got {uri!r}")
    counter = counter if counter is not None else CommandCounter()
    # Each per-loop client the store opens gets the listener.
    options = {**(store_kwargs.pop("client_options", None) or {}), "event_listeners": [counter]}
    return MongoStore(uri, client_options=options, **store_kwargs), counter
