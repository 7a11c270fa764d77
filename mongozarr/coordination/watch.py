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

With a ``query``, the scope is the nodes matching it: a node that starts
matching is reported as ``created`` while polling, one that stops matching
as ``changed`` (it still exists) and only a removed document as ``deleted``.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from pymongo.errors import OperationFailure
from zarr.core.sync import sync

from mongozarr.documents import decode_value, json_equal, unescape_key
from mongozarr.layout import prefix_regex

if TYPE_CHECKING:
    from mongozarr.storage.store import MongoStore

__all__ = ["ChangeEvent", "Watch", "watch"]

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
    parts = []
    base = (under or "").strip("/")
    if base:
        parts.append({"$or": [{"_id": base}, {"_id": prefix_regex(base + "/")}]})
    if query:
        parts.append(query)
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

    def _nodes(self) -> Any:
        return self.store.database()[self.store.nodes_collection_name]

    async def start(self) -> None:
        docs = await self._nodes().find(self.scope).to_list()
        self.known = {doc["_id"]: doc for doc in docs}

    async def poll(self) -> list[ChangeEvent]:
        nodes = self._nodes()
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
            fresh = {doc["_id"]: doc for doc in await nodes.find({"_id": {"$in": moved + gone}}).to_list()}
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
        base = (under or "").strip("/")
        if base:
            match["$or"] = [{"documentKey._id": base}, {"documentKey._id": prefix_regex(base + "/")}]
        self.pipeline: list[dict[str, Any]] = [{"$match": match}]
        if query:
            # Deletions carry no document to test: every deletion in scope passes.
            self.pipeline.append(
                {"$match": {"$or": [{"operationType": "delete"}, _in_full_document(query)]}}
            )
        self.stream: Any = None

    async def start(self) -> None:
        nodes = self.store.database()[self.store.nodes_collection_name]
        self.stream = await nodes.watch(
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


class Watch:
    """An iterator of :class:`ChangeEvent`; see :func:`watch`."""

    def __init__(
        self,
        store: MongoStore,
        under: str | None = None,
        query: dict[str, Any] | None = None,
        *,
        poll_interval: float = 1.0,
        mode: Literal["auto", "stream", "poll"] = "auto",
        duration: float | None = None,
    ) -> None:
        if mode not in ("auto", "stream", "poll"):
            raise ValueError(f"mode must be 'auto', 'stream' or 'poll', not {mode!r}")
        self.poll_interval = poll_interval
        self._deadline = None if duration is None else time.monotonic() + duration
        self._pending: deque[ChangeEvent] = deque()
        self._source = sync(_open(store, under, query, mode))

    @property
    def mode(self) -> str:
        """``"stream"`` or ``"poll"``: the source actually in use."""
        return "stream" if isinstance(self._source, _Stream) else "poll"

    def poll(self) -> list[ChangeEvent]:
        """The events since the last call, without waiting (a stream waits briefly)."""
        events = list(self._pending) + sync(self._source.poll())
        self._pending.clear()
        return events

    def __iter__(self) -> Watch:
        return self

    def __next__(self) -> ChangeEvent:
        while not self._pending:
            if self._deadline is not None and time.monotonic() >= self._deadline:
                raise StopIteration
            if isinstance(self._source, _Poller):
                # Wait in the caller's thread, not on zarr's event loop.
                wait = self.poll_interval
                if self._deadline is not None:
                    wait = min(wait, max(0.0, self._deadline - time.monotonic()))
                time.sleep(wait)
            self._pending.extend(sync(self._source.poll()))
        return self._pending.popleft()

    def close(self) -> None:
        """Stop watching (closes a change stream)."""
        if isinstance(self._source, _Stream):
            sync(self._source.close())

    def __enter__(self) -> Watch:
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
    mode: Literal["auto", "stream", "poll"] = "auto",
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
        Only nodes matching this MongoDB query on node documents, e.g.
        ``{"attributes.subject": "mouse-7"}``.
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
    """
    return Watch(store, under, query, poll_interval=poll_interval, mode=mode, duration=duration)


def run_watch(
    uri: str,
    prefix: str,
    under: str | None,
    query: str | None,
    poll_interval: float,
    duration: float | None,
    count: int | None,
    echo: Any,
) -> int:
    """The ``mongozarr watch`` command: print events as they come; how many were printed."""
    import json

    from mongozarr.storage.store import MongoStore

    parsed = json.loads(query) if query else None
    if parsed is not None and not isinstance(parsed, dict):
        raise ValueError("--query must be a JSON object (a MongoDB query on node documents)")
    store = MongoStore(uri, prefix=prefix, read_only=True)
    printed = 0
    with watch(store, under, parsed, poll_interval=poll_interval, duration=duration) as events:
        echo(f"watching {store} ({events.mode})")
        for event in events:
            echo(str(event))
            printed += 1
            if count is not None and printed >= count:
                break
    return printed
