"""Walk snapshots: one hierarchy walk answered in about one query per tree level.

zarr walks a hierarchy (``group.members(max_depth=None)``, ``Group.tree()``)
by listing one group, reading its children's ``zarr.json`` concurrently, then
listing each subgroup in turn. Asked one key at a time that costs several
queries per group. A walk snapshot holds what the walk's first ``list_dir``
fetched: the listed node and its children in full, every directory with nodes
more than one level below it (one ``$group`` on ``parent``), and every node
that has chunks (one ``distinct``). A later listing of a group one level deeper fetches that whole
level under the walk's root at once (``parent`` in the directories of the
level above, answered from the ``parent`` index); the children's metadata
reads are served from those documents, through the same views as any read.

A snapshot belongs to one walk:

- it lives in a :class:`~contextvars.ContextVar`, so only the task that
  listed (and the child tasks zarr starts for the reads) see it;
- it answers each directory's listing and each node's metadata key once (a
  second walk lists the root again and starts afresh);
- any write through the store or its siblings (:func:`writing`), and any read
  of a node in a newer version than the snapshot holds, ends it.

A caller that makes one walk in many separate calls (``xr.open_datatree``
lists each group, opens it by path and lists it again, each a call of its
own) opens a *snapshot scope* around them (``with store.snapshot():``,
:meth:`WalkClock.scope`). Inside it the snapshot outlives each call and
answers every listing and metadata read it holds as often as asked, so the
whole block costs about one query per level. The block sees the hierarchy
as its first listing found it, the way an object opened from consolidated
metadata does; a write through a store on the same data, or a newer version
seen, still ends the snapshot, and the next listing starts a new one.

It relies on a chunk document's ``node`` being a directory of its key (as
:func:`~mongozarr.layout.guess_node` makes it): chunk keys that belong to no
node below a directory are then filed under that directory or one above it.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import weakref
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, TypeVar

from mongozarr.documents import metadata_names
from mongozarr.layout import dir_prefixes
from mongozarr.storage.faults import writing as _map_write_faults

__all__ = ["SnapshotScope", "WalkClock", "WalkSnapshot", "depth_of", "walk_clock", "writing"]

F = TypeVar("F", bound=Callable[..., Any])

# Per context: clock id -> the snapshot of the walk under way. Replaced, never
# mutated, so a snapshot set in one task is not seen by its parent.
_SNAPSHOTS: ContextVar[Mapping[int, WalkSnapshot]] = ContextVar("mongozarr_walk_snapshots")
# Per context: clock id -> the scope a ``store.snapshot()`` block opened. The
# scope object is shared, so a snapshot one call of the block begins is seen
# by the block's later calls (each runs in a copy of the caller's context).
_SCOPES: ContextVar[Mapping[int, SnapshotScope]] = ContextVar("mongozarr_snapshot_scopes")


def depth_of(path: str) -> int:
    """The ``depth`` field of the node at ``path`` (the root ``""`` is 0)."""
    return path.count("/") + 1 if path else 0


def _base(path: str) -> str:
    return f"{path}/" if path else ""


def _below(paths: list[str], base: str) -> list[str]:
    """The paths of sorted ``paths`` that start with ``base``."""
    start = bisect.bisect_left(paths, base)
    end = start
    while end < len(paths) and paths[end].startswith(base):
        end += 1
    return paths[start:end]


class WalkSnapshot:
    """What one walk rooted at ``root`` fetched, and what it has handed out.

    Parameters
    ----------
    root
        The directory the walk's first listing was of.
    generation
        The store's write generation when the snapshot began.
    parents
        Every ``parent`` of a node more than one level below ``root``.
    chunk_nodes
        Every chunk ``node`` in or below ``root`` or at one of its ancestors.
    """

    def __init__(self, root: str, generation: int, parents: Iterable[str], chunk_nodes: Iterable[str]) -> None:
        self.root = root
        self.generation = generation
        self.stale = False
        self.scoped = False  # in a snapshot scope: answers repeat, the root included
        # Sorted, so the paths below a directory are one contiguous run.
        self.parents = sorted(set(parents))
        self.chunk_nodes = sorted(set(chunk_nodes))
        self._chunk_node_set = frozenset(self.chunk_nodes)
        self.docs: dict[str, dict[str, Any]] = {}
        self.children: dict[str, list[str]] = {}
        self.levels: set[int] = set()
        self.listed: set[str] = set()
        self.served: set[tuple[str, str]] = set()
        self.pending: dict[int, Any] = {}  # depth -> the task fetching that level

    def add_level(self, depth: int, docs: Iterable[dict[str, Any]]) -> None:
        """Hold the documents of every node at ``depth`` under the root."""
        for doc in docs:
            self.docs[doc["_id"]] = doc
            if doc["_id"] != self.root:
                self.children.setdefault(doc.get("parent") or "", []).append(doc["_id"])
        self.levels.add(depth)

    def parents_at(self, depth: int) -> list[str]:
        """The directories at ``depth`` under the root that may have nodes directly below them.

        The nodes held at ``depth`` count too: one created after the snapshot
        began is not among its ``parents``, yet its children must be found.
        """
        held = (path for path, doc in self.docs.items() if doc.get("depth") == depth)
        return sorted({*(p for p in self.parents if depth_of(p) == depth), *held} - {self.root})

    def can_list(self, path: str) -> bool:
        """Whether this snapshot may answer the listing of ``path`` (once, below its root)."""
        if self.scoped and path == self.root:
            return True
        return (
            (self.scoped or path not in self.listed)
            and path.startswith(_base(self.root))
            and path != self.root
            and depth_of(path) in self.levels
        )

    def names_in(self, path: str) -> list[str]:
        """The names directly under ``path`` that node documents and chunk nodes give, in today's order."""
        base = _base(path)
        doc = self.docs.get(path)
        names = metadata_names(doc) if doc is not None else []
        paths = [*self.children.get(path, []), *_below(self.parents, base), *_below(self.chunk_nodes, base)]
        names.extend(p[len(base) :].split("/")[0] for p in paths if p and p.startswith(base))
        return names

    def has_loose_chunks(self, path: str) -> bool:
        """Whether chunks of ``path`` or of a directory above it may hold keys below ``path``."""
        return any(node in self._chunk_node_set for node in (path, *dir_prefixes(path)))

    def take(self, path: str, name: str) -> dict[str, Any] | None:
        """The document of ``path`` for one read of ``name``, or None (then read it from the database).

        Each key is served once: a walk reads each node's metadata once, and
        a later read belongs to another operation, which must see the
        database. The root was read before the walk began, so it is not served.
        In a snapshot scope every held document answers every read.
        """
        if self.scoped:
            return self.docs.get(path)
        if path == self.root or path not in self.docs or (path, name) in self.served:
            return None
        self.served.add((path, name))
        return self.docs[path]

    def saw(self, doc: dict[str, Any]) -> None:
        """A read elsewhere returned ``doc``: a version other than the one held ends the snapshot."""
        held = self.docs.get(doc["_id"])
        if held is not None and held.get("version") != doc.get("version"):
            self.stale = True


class WalkClock:
    """The write generation of a store and its siblings, and their live walk snapshots."""

    def __init__(self) -> None:
        self.generation = 0
        self._live: weakref.WeakSet[WalkSnapshot] = weakref.WeakSet()

    def wrote(self) -> None:
        """Something was written through the store: every snapshot taken before is stale."""
        self.generation += 1

    def saw(self, doc: dict[str, Any]) -> None:
        """A node document was read outside any snapshot."""
        for snapshot in list(self._live):
            snapshot.saw(doc)

    def current(self) -> WalkSnapshot | None:
        """The running walk's snapshot (or the snapshot scope's), if it is still current."""
        scope = _SCOPES.get({}).get(id(self))
        snapshot = scope.snapshot if scope is not None else _SNAPSHOTS.get({}).get(id(self))
        if snapshot is None or snapshot.stale or snapshot.generation != self.generation:
            return None
        return snapshot

    def begin(self, snapshot: WalkSnapshot) -> None:
        """Make ``snapshot`` the running walk's (in this context and the tasks it starts)."""
        for doc in snapshot.docs.values():
            self.saw(doc)
        self._live.add(snapshot)
        scope = _SCOPES.get({}).get(id(self))
        if scope is not None:
            snapshot.scoped = True
            scope.snapshot = snapshot
        else:
            _SNAPSHOTS.set({**_SNAPSHOTS.get({}), id(self): snapshot})

    @contextlib.contextmanager
    def scope(self) -> Iterator[SnapshotScope]:
        """Answer the walks of this block from one snapshot, across separate calls (see the module)."""
        scope = SnapshotScope()
        token = _SCOPES.set({**_SCOPES.get({}), id(self): scope})
        try:
            yield scope
        finally:
            _SCOPES.reset(token)


class SnapshotScope:
    """The snapshot a ``store.snapshot()`` block shares between its calls."""

    def __init__(self) -> None:
        self.snapshot: WalkSnapshot | None = None


# One clock per (connection identity, prefix) in this process: every store on
# the same data (zarr's read-only copies, siblings, a second MongoStore)
# ends the walks of the others when it writes.
_CLOCKS: weakref.WeakValueDictionary[Hashable, WalkClock] = weakref.WeakValueDictionary()


def walk_clock(key: Hashable) -> WalkClock:
    """The walk clock shared by every store of this process whose data is ``key``."""
    clock = _CLOCKS.get(key)
    if clock is None:
        clock = _CLOCKS[key] = WalkClock()
    return clock


def writing(function: F) -> F:
    """Map a store write method's connection failures, and end the walks it may make stale.

    The generation moves after the write (whatever its outcome), so a
    snapshot taken while it was under way is not used afterwards.
    """
    mapped = _map_write_faults(function)

    @functools.wraps(function)
    async def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await mapped(self, *args, **kwargs)
        finally:
            self._state.walks.wrote()

    return write  # type: ignore[return-value]
