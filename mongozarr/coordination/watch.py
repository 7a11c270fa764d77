"""Watch a hierarchy's node documents and yield metadata change events.

Two sources, chosen by ``mode``:

* ``"stream"``: a MongoDB change stream on ``<prefix>.nodes`` (servers
  running as a replica set or sharded cluster). Changed keys come from the
  server's ``updateDescription``; nothing is missed between events.
* ``"poll"``: the fallback for servers without change streams (a standalone
  ``mongod``, mongomock, the mongoeco wire server). Every ``poll_interval``
  seconds one query reads ``_id``, ``version`` and ``updated_at`` of every
  node in scope, a second fetches the documents whose version moved, and
  the changed keys are found by comparing with the previous copy. Deletions
  are the ids that disappeared, so each poll scans the ids of the whole
  scope: watch a bounded subtree (``under=``) on large hierarchies. Several
  writes between two polls are reported as one event.

``"auto"`` (the default) opens a change stream and falls back to polling if
the server refuses it.

:class:`AsyncWatch` (from :func:`watch_async`) is the core, an async iterator
for code inside a running event loop; :class:`Watch` (from :func:`watch`) is
its synchronous form.

With a ``query``, the scope is the nodes matching it: a node that starts
matching is reported as ``created`` while polling, one that stops matching
as ``changed`` (it still exists) and only a removed document as ``deleted``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

from pymongo.errors import OperationFailure
from zarr.core.sync import sync

from mongozarr.documents import decode_value, json_equal, unescape_key
from mongozarr.layout import in_batches, subtree
from mongozarr.query import to_mongo_filter
from mongozarr.storage.faults import reading

if TYPE_CHECKING:
    from mongozarr.storage.store import MongoStore

__all__ = ["AsyncWatch", "ChangeEvent", "Watch", "watch", "watch_async"]

Mode = Literal["auto", "stream", "poll"]
_MODES = ("auto", "stream", "poll")

_BOOKKEEPING = ("_id", "version", "updated_at")
# How long one change-stream getMore waits on the server before returning.
_STREAM_WAIT_MS = 500


@dataclass(frozen=True)
class ChangeEvent:
    """One change to a node document.

    Attributes
    ----------
    kind
        ``"created"``, ``"changed"`` or ``"deleted"``.
    path
        The node path (``""`` is the root).
    version
        The node's ``version`` after the change (None for ``deleted``).
    attributes
        The top-level attribute keys that were added, changed or removed.
    fields
        Other changed fields of the node document: ``"metadata.shape"``,
        ``"links"``, ``"pending_appends"``, ...
    """

    kind: Literal["created", "changed", "deleted"]
    path: str
    version: int | None = None
    attributes: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        parts = [f"{self.kind:8} /{self.path}"]
        if self.version is not None:
            parts.append(f"v{self.version}")
        if self.attributes:
            parts.append("attributes: " + ", ".join(self.attributes))
        if self.fields:
            parts.append("fields: " + ", ".join(self.fields))
        return "  ".join(parts)


def _scope(under: str | None, query: dict[str, Any] | None) -> dict[str, Any]:
    parts = [part for part in (subtree((under or "").strip("/")), query) if part]
    if not parts:
        return {}
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _diff(old: dict[str, Any], new: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(changed attribute keys, other changed fields) between two node documents."""
    old_attributes = old.get("attributes") or {}
    new_attributes = new.get("attributes") or {}
    attributes = sorted(
        unescape_key(k)
        for k in old_attributes.keys() | new_attributes.keys()
        if k not in old_attributes
        or k not in new_attributes
        or not json_equal(decode_value(old_attributes[k]), decode_value(new_attributes[k]))
    )
    fields = []
    for name in sorted(old.keys() | new.keys()):
        if name in _BOOKKEEPING or name == "attributes":
            continue
        before, after = old.get(name), new.get(name)
        if name == "metadata" and isinstance(before, dict) and isinstance(after, dict):
            fields += [f"metadata.{k}" for k in sorted(before.keys() | after.keys()) if before.get(k) != after.get(k)]
        elif before != after:
            fields.append(name)
    return tuple(attributes), tuple(fields)


class _Poller:
    """Polls the scope and diffs it against the previous poll."""

    def __init__(self, store: MongoStore, scope: dict[str, Any]) -> None:
        self.store = store
        self.scope = scope
        self.known: dict[str, dict[str, Any]] = {}

    async def start(self) -> None:
        docs = await self.store.nodes().find(self.scope).to_list()
        self.known = {doc["_id"]: doc for doc in docs}

    async def poll(self) -> list[ChangeEvent]:
        nodes = self.store.nodes()
        stamps = await nodes.find(self.scope, {"version": 1, "updated_at": 1}).to_list()
        now = {doc["_id"]: doc for doc in stamps}
        moved = [
            path
            for path, stamp in now.items()
            if path not in self.known
            or (self.known[path].get("version"), self.known[path].get("updated_at"))
            != (stamp.get("version"), stamp.get("updated_at"))
        ]
        gone = [path for path in self.known if path not in now]
        fresh = {}
        if moved or gone:
            fresh = {
                doc["_id"]: doc
                for batch in in_batches(moved + gone)
                for doc in await nodes.find({"_id": {"$in": list(batch)}}).to_list()
            }
        events = []
        for path in sorted(moved + gone):
            doc = fresh.get(path)
            old = self.known.get(path)
            if doc is None:
                if old is not None:
                    events.append(ChangeEvent("deleted", path))
                    del self.known[path]
                continue  # created and deleted between two polls: nothing to report
            if old is None:
                attributes, fields = _diff({}, doc)
                events.append(ChangeEvent("created", path, doc.get("version"), attributes, fields))
            else:
                attributes, fields = _diff(old, doc)
                events.append(ChangeEvent("changed", path, doc.get("version"), attributes, fields))
            if path in now:
                self.known[path] = doc
            else:
                del self.known[path]  # it left the query's scope
        return events


def _in_full_document(query: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a node query to match a change event's ``fullDocument``."""
    out: dict[str, Any] = {}
    for key, value in query.items():
        if key in ("$and", "$or", "$nor"):
            out[key] = [_in_full_document(q) for q in value]
        elif key.startswith("$"):
            raise ValueError(f"watch(query=...) over a change stream cannot use top-level {key}")
        else:
            out[f"fullDocument.{key}"] = value
    return out


def _event_from_change(change: dict[str, Any]) -> ChangeEvent | None:
    kind = change["operationType"]
    path = change["documentKey"]["_id"]
    doc = change.get("fullDocument") or {}
    if kind == "delete":
        return ChangeEvent("deleted", path)
    if kind == "insert":
        attributes, fields = _diff({}, doc)
        return ChangeEvent("created", path, doc.get("version"), attributes, fields)
    if kind == "replace":
        attributes, fields = _diff({}, doc)
        return ChangeEvent("changed", path, doc.get("version"), attributes, fields)
    if kind != "update":
        return None
    description = change.get("updateDescription") or {}
    names = list(description.get("updatedFields") or {}) + list(description.get("removedFields") or [])
    attributes: set[str] = set()
    fields: set[str] = set()
    for name in names:
        head, _, rest = name.partition(".")
        if head in _BOOKKEEPING:
            continue
        if head == "attributes":
            if rest:
                attributes.add(unescape_key(rest.partition(".")[0]))
            else:
                fields.add("attributes")
        elif head == "metadata" and rest:
            fields.add("metadata." + rest.partition(".")[0])
        else:
            fields.add(head)
    return ChangeEvent("changed", path, doc.get("version"), tuple(sorted(attributes)), tuple(sorted(fields)))


class _Stream:
    """A change stream on the nodes collection."""

    def __init__(self, store: MongoStore, under: str | None, query: dict[str, Any] | None) -> None:
        self.store = store
        match: dict[str, Any] = {"operationType": {"$in": ["insert", "update", "replace", "delete"]}}
        match.update(subtree((under or "").strip("/"), field="documentKey._id"))
        self.pipeline: list[dict[str, Any]] = [{"$match": match}]
        if query:
            # Deletions carry no document to test: every deletion in scope passes.
            self.pipeline.append(
                {"$match": {"$or": [{"operationType": "delete"}, _in_full_document(query)]}}
            )
        self.stream: Any = None

    async def start(self) -> None:
        self.stream = await self.store.nodes().watch(
            self.pipeline, full_document="updateLookup", max_await_time_ms=_STREAM_WAIT_MS
        )

    async def poll(self) -> list[ChangeEvent]:
        change = await self.stream.try_next()
        event = None if change is None else _event_from_change(change)
        return [] if event is None else [event]

    async def close(self) -> None:
        if self.stream is not None:
            await self.stream.close()


async def _open(
    store: MongoStore, under: str | None, query: dict[str, Any] | None, mode: str
) -> _Poller | _Stream:
    streams = (await store.capabilities()).change_streams
    if mode == "stream" and not streams:
        raise ValueError(
            f"{store.connection.describe()} has no change streams (a standalone or in-process "
            "server); use mode='poll' or 'auto'"
        )
    if streams and mode in ("auto", "stream"):
        stream = _Stream(store, under, query)
        try:
            await stream.start()
            return stream
        except OperationFailure:
            # A server that reports streams may still refuse this pipeline.
            if mode == "stream":
                raise
    poller = _Poller(store, _scope(under, query))
    await poller.start()
    return poller


class AsyncWatch:
    """An async iterator of :class:`ChangeEvent`; see :func:`watch_async`.

    The baseline is taken when it is awaited or entered (``async with``), or
    else at the first iteration.
    """

    def __init__(
        self,
        store: MongoStore,
        under: str | None = None,
        query: dict[str, Any] | None = None,
        *,
        poll_interval: float = 1.0,
        mode: Mode = "auto",
        duration: float | None = None,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be 'auto', 'stream' or 'poll', not {mode!r}")
        self.poll_interval = poll_interval
        self._store = store
        self._under = under
        # The Tree's query language (attribute paths, a whitelist of operators:
        # no $where or $function reaches the server), translated once, up front.
        self._query = to_mongo_filter(query) if query else None
        self._requested = mode
        self._duration = duration
        self._deadline: float | None = None
        self._pending: deque[ChangeEvent] = deque()
        self._source: _Poller | _Stream | None = None

    @reading
    async def open_async(self) -> Self:
        """Take the baseline: open the change stream, or read the scope to poll against."""
        await self._opened()
        return self

    async def _opened(self) -> _Poller | _Stream:
        if self._source is None:
            if self._duration is not None:
                self._deadline = time.monotonic() + self._duration
            self._source = await _open(self._store, self._under, self._query, self._requested)
        return self._source

    def __await__(self) -> Generator[Any, None, Self]:
        return self.open_async().__await__()

    @property
    def mode(self) -> str:
        """``"stream"`` or ``"poll"``: the source actually in use (once opened)."""
        if self._source is None:
            raise RuntimeError("the watch is not open yet: await it or enter it first")
        return "stream" if isinstance(self._source, _Stream) else "poll"

    @reading
    async def poll_async(self) -> list[ChangeEvent]:
        """The events since the last call, without waiting (a stream waits briefly)."""
        source = await self._opened()
        events = list(self._pending) + await source.poll()
        self._pending.clear()
        return events

    async def _next_async(self) -> ChangeEvent | None:
        """The next event, waiting for it; None once ``duration`` is over."""
        source = await self._opened()
        while not self._pending:
            if self._deadline is not None and time.monotonic() >= self._deadline:
                return None
            if isinstance(source, _Poller):
                wait = self.poll_interval
                if self._deadline is not None:
                    wait = min(wait, max(0.0, self._deadline - time.monotonic()))
                await asyncio.sleep(wait)
            self._pending.extend(await source.poll())
        return self._pending.popleft()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> ChangeEvent:
        event = await self._next_async()
        if event is None:
            raise StopAsyncIteration
        return event

    async def close_async(self) -> None:
        """Stop watching (closes a change stream)."""
        if isinstance(self._source, _Stream):
            await self._source.close()

    async def __aenter__(self) -> Self:
        return await self.open_async()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close_async()


class Watch:
    """An iterator of :class:`ChangeEvent`; see :func:`watch`.

    The synchronous form of :class:`AsyncWatch`: each call runs the async
    core on zarr's event loop thread.
    """

    def __init__(
        self,
        store: MongoStore,
        under: str | None = None,
        query: dict[str, Any] | None = None,
        *,
        poll_interval: float = 1.0,
        mode: Mode = "auto",
        duration: float | None = None,
    ) -> None:
        self._watch = AsyncWatch(
            store, under, query, poll_interval=poll_interval, mode=mode, duration=duration
        )
        sync(self._watch.open_async())

    @property
    def poll_interval(self) -> float:
        """Seconds between polls when polling."""
        return self._watch.poll_interval

    @poll_interval.setter
    def poll_interval(self, seconds: float) -> None:
        self._watch.poll_interval = seconds

    @property
    def mode(self) -> str:
        """``"stream"`` or ``"poll"``: the source actually in use."""
        return self._watch.mode

    def poll(self) -> list[ChangeEvent]:
        """The events since the last call, without waiting (a stream waits briefly)."""
        return sync(self._watch.poll_async())

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> ChangeEvent:
        # The wait between polls is asyncio.sleep on zarr's loop thread: it
        # blocks this thread only, not the loop.
        event = sync(self._watch._next_async())
        if event is None:
            raise StopIteration
        return event

    def close(self) -> None:
        """Stop watching (closes a change stream)."""
        sync(self._watch.close_async())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def watch(
    store: MongoStore,
    under: str | None = None,
    query: dict[str, Any] | None = None,
    *,
    poll_interval: float = 1.0,
    mode: Mode = "auto",
    duration: float | None = None,
) -> Watch:
    """Watch node documents for changes made after this call.

    Parameters
    ----------
    store
        The store to watch.
    under
        Only this node and its subtree (a path; None: everything).
    query
        Only nodes matching this query, in the language of
        :meth:`mongozarr.Tree.find` (attribute paths and structural fields,
        e.g. ``{"subject": "mouse-7", "node_type": "array"}``).
    poll_interval
        Seconds between polls when polling.
    mode
        ``"auto"`` (change stream if the server offers one, else polling),
        ``"stream"`` or ``"poll"``.
    duration
        Stop iterating after this many seconds (None: never).

    Returns
    -------
    Watch
        Iterate it for :class:`ChangeEvent` objects; the baseline is taken now,
        so every change made after this call is reported.

    Raises
    ------
    ValueError
        If ``mode`` is unknown, or ``"stream"`` on a server without change streams.
    """
    return Watch(store, under, query, poll_interval=poll_interval, mode=mode, duration=duration)


def watch_async(
    store: MongoStore,
    under: str | None = None,
    query: dict[str, Any] | None = None,
    *,
    poll_interval: float = 1.0,
    mode: Mode = "auto",
    duration: float | None = None,
) -> AsyncWatch:
    """Async form of :func:`watch`, for code inside a running event loop.

    Use it as ``async with watch_async(store) as events:`` (closed on exit)
    or ``events = await watch_async(store)``, then ``async for event in
    events``. The parameters are those of :func:`watch`; the baseline is
    taken when the watch is awaited or entered.

    Returns
    -------
    AsyncWatch
        An awaitable async context manager and async iterator of
        :class:`ChangeEvent` objects.
    """
    return AsyncWatch(store, under, query, poll_interval=poll_interval, mode=mode, duration=duration)
