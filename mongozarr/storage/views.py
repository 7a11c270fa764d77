"""Which version of a node a plain zarr write derives from (the merge base).

zarr rewrites a node's whole ``zarr.json`` (or ``.zattrs``, ``.zarray``) from
the copy its ``Group``/``Array`` object holds. To send only what that object
changed, the store must know which copy it held. The store cannot see the
object, only the bytes, so it keeps, per node, the **views** it handed to zarr
objects (metadata reads) and the views zarr objects wrote through it, each
with a count of the objects that may hold it: a read adds a holder, a write
moves one from the view it came from to the view written. Reads that build no
object (zarr probing a node's type, or checking the ancestors of a node it
creates) are not counted, so the views kept are those objects may still hold.

zarr changes either a node's shape (a resize of the copy the object holds) or
the rest (attributes, other metadata), never both in one write. So each view
reads a write as a resize (they differ only in shape), as an update (same
shape), or not at all:

* an update is taken as coming from the view it differs from least, counting
  top-level attribute keys and metadata fields; a write identical to a view
  repeats it and changes nothing;
* a resize is compare-and-set against the shapes of the views it can come
  from: it lands only if the shape stored is one of them; a write that is a
  resize under one reading and a repeat under another is the repeat when the
  stored shape rules the resize out;
* where readings disagree (several views equally close, a repeat that another
  view reads as a change, a resize under one reading and an update under
  another), only what every reading agrees on is made, and the rest is
  withheld and reported.

Nothing here does I/O; :class:`mongozarr.MongoStore` asks, then writes.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from mongozarr.documents import json_equal

__all__ = ["DELETE", "Content", "Plan", "View", "Views", "changes_between"]

#: The value of a change that removes a key (or a whole part).
DELETE: Any = type("Delete", (), {"__repr__": lambda self: "DELETE"})()
#: The parts of a node's content a metadata write can carry.
PARTS = ("metadata", "attributes")
# Per store: views kept per node, and nodes with views (least recently used go first).
MAX_VIEWS_PER_NODE = 32
MAX_NODES = 10_000

# A change: (part, top-level key or None for the whole part) -> new JSON value or DELETE.
Change = tuple[str, str | None]
#: The change that resizes an array (compare-and-set against the old shape).
SHAPE: Change = ("metadata", "shape")
#: The change of what a node is (a v2 node that held only ``.zattrs`` becoming a group).
NODE_TYPE: Change = ("node_type", None)


@dataclass(frozen=True)
class Content:
    """The JSON content of a node: metadata fields and user attributes."""

    zarr_format: int
    node_type: str | None
    metadata: dict[str, Any] | None
    attributes: dict[str, Any] | None

    def part(self, name: str) -> Any:
        if name == "node_type":
            return self.node_type
        return self.metadata if name == "metadata" else self.attributes

    def same_kind(self, other: Content) -> bool:
        return self.zarr_format == other.zarr_format and (
            self.node_type is None or other.node_type is None or self.node_type == other.node_type
        )


@dataclass(eq=False)
class View:
    """One version of a node that zarr objects of this store may hold."""

    content: Content
    version: int | None
    holders: int
    touched: int  # sequence number of the last time it was handed out or written
    written: int | None = None  # sequence number of the last zarr write that produced it
    # Fingerprints of the views that zarr writes producing this one came from.
    derived_from: set[str] = field(default_factory=set)
    fingerprint: str = ""
    # A v2 write with no base carries one half of a node (.zattrs, or .zarray/.zgroup):
    # the other half is not known until its own write lands (see Views.wrote).
    blind_half: bool = False

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = _fingerprint(self.content)


@dataclass
class Plan:
    """How to apply one metadata write.

    Attributes
    ----------
    base
        The view the write derives from; None when the store knows no view
        of the node (the write is then applied as it is, removing nothing).
    changes
        What to send: ``(part, key) -> value`` (``DELETE`` removes).
    withheld
        Changes not sent because the write was ambiguous (several views
        explain it equally well and disagree on these).
    tied
        True when several views explain the write equally well.
    resize_from
        For a resize: the shapes the writer may have read. The stored shape
        must be one of them (compare-and-set).
    """

    base: View | None
    changes: dict[Change, Any] = field(default_factory=dict)
    withheld: dict[Change, Any] = field(default_factory=dict)
    tied: bool = False
    resize_from: tuple[Any, ...] = ()
    # Every view the write may come from (the base among them).
    bases: tuple[View, ...] = ()
    # For a resize: the view the write repeats under another reading, taken
    # if the stored shape rules the resize out (nothing is written then).
    otherwise: View | None = None
    # For a write with no base: when the store planned it (its views' clock).
    planned_at: int = 0

    @property
    def certain(self) -> bool:
        """Whether the base was identified without ambiguity."""
        return self.base is not None and not self.withheld and not self.tied


def changes_between(base: Content | None, new: Content, parts: tuple[str, ...]) -> dict[Change, Any]:
    """The per-key changes that turn ``base`` into ``new`` in ``parts``."""
    out: dict[Change, Any] = {}
    if "metadata" in parts and base is not None and base.node_type != new.node_type:
        out[NODE_TYPE] = new.node_type
    for name in parts:
        old, now = (None if base is None else base.part(name)), new.part(name)
        if now is None:
            if old is not None:
                out[(name, None)] = DELETE
            continue
        if old is None:
            if name == "metadata":
                # No metadata known (a new node, or one that held only .zattrs): the writer's, whole.
                out[(name, None)] = now
                continue
            # An empty part is created by the store where missing, never set over others' keys.
            for key, value in now.items():
                out[(name, key)] = value
            continue
        for key, value in now.items():
            if key not in old or not json_equal(old[key], value):
                out[(name, key)] = value
        for key in old:
            if key not in now:
                out[(name, key)] = DELETE
    return out


def _same_change(a: Any, b: Any) -> bool:
    return (a is DELETE) == (b is DELETE) and (a is DELETE or json_equal(a, b))


class Views:
    """The views of one store instance, per node path; thread-safe."""

    def __init__(self, max_views: int = MAX_VIEWS_PER_NODE, max_nodes: int = MAX_NODES) -> None:
        self._nodes: OrderedDict[str, list[View]] = OrderedDict()
        self._lock = threading.Lock()
        self._clock = itertools.count(1)
        self._max_views = max_views
        self._max_nodes = max_nodes

    def __contains__(self, path: str) -> bool:
        return path in self._nodes

    def kinds(self, path: str) -> set[tuple[int, str | None]]:
        """The (zarr_format, node_type) pairs of the views held of ``path``."""
        with self._lock:
            return {(v.content.zarr_format, v.content.node_type) for v in self._nodes.get(path, [])}

    # ------------------------------------------------------------ recording

    def served(self, path: str, content: Content, version: int | None, holders: int = 1) -> None:
        """``holders`` zarr objects were built from ``content``."""
        with self._lock:
            self._add(path, content, version, written=False, count=holders)

    def wrote(self, path: str, plan: Plan, content: Content, version: int | None) -> None:
        """A zarr object holding ``plan.base`` wrote ``content``; it now holds that."""
        with self._lock:
            views = self._nodes.get(path, [])
            base = plan.base
            # Only a certain base loses its holder: after an ambiguous write
            # every candidate stays, so no live object's view is forgotten.
            if plan.certain and base is not None and base in views:
                base.holders -= 1
                if base.holders <= 0:
                    views.remove(base)
            changed = bool(plan.changes) or base is None
            half = _half(content) if base is None else None
            other = None if half is None else _other_half(views, half, plan.planned_at)
            count = 1
            if other is not None:
                # zarr writes a new v2 node's two keys at once, so neither write
                # had the other as its base: the creating object holds both halves.
                views.remove(other)
                content = _joined(content, other.content, half)  # type: ignore[arg-type]
                count = other.holders
                version = max((v for v in (version, other.version) if v is not None), default=None)
            # A write that changed nothing hands nothing new out: the view it
            # repeats keeps its place in time.
            view = self._add(path, content, version, written=changed, touch=changed, count=count)
            view.blind_half = half is not None and other is None
            if changed and not plan.withheld:
                # Whichever of them it came from, this view was written from one of them.
                view.derived_from.update(b.fingerprint for b in plan.bases or ([base] if base else []))

    def forget(self, path: str) -> None:
        """The node was deleted: no object's view of it matters any more."""
        with self._lock:
            self._nodes.pop(path, None)

    def forget_prefix(self, prefix: str) -> None:
        """Forget every node whose store keys start with ``prefix`` (``""``: all)."""
        with self._lock:
            if not prefix:
                self._nodes.clear()
                return
            for path in [p for p in self._nodes if f"{p}/".startswith(prefix)]:
                del self._nodes[path]

    def _add(
        self, path: str, content: Content, version: int | None, *, written: bool, touch: bool = True, count: int = 1
    ) -> View:
        now = next(self._clock)
        views = self._nodes.setdefault(path, [])
        self._nodes.move_to_end(path)
        fingerprint = _fingerprint(content)
        for view in views:
            if view.fingerprint == fingerprint:
                view.holders += count
                if touch:
                    view.touched = now
                if version is not None and (view.version is None or version > view.version):
                    view.version = version
                if written:
                    view.written = now
                break
        else:
            view = View(content, version, count, now, now if written else None, fingerprint=fingerprint)
            views.append(view)
            if len(views) > self._max_views:
                views.remove(min(views, key=lambda v: v.touched))
        while len(self._nodes) > self._max_nodes:
            self._nodes.popitem(last=False)
        return view

    # ---------------------------------------------------------------- choice

    def plan(self, path: str, content: Content, parts: tuple[str, ...]) -> Plan:
        """Which view a write of ``content`` (carrying ``parts``) derives from, and what to send."""
        with self._lock:
            candidates = [v for v in self._nodes.get(path, []) if v.content.same_kind(content)]
            if not candidates:
                return Plan(None, changes_between(None, content, parts), planned_at=next(self._clock))
            diffs = {id(v): changes_between(v.content, content, parts) for v in candidates}
            # zarr changes either a node's shape (a resize of what the object
            # holds) or the rest (attributes...), never both in one write: each
            # view reads the write as a resize, or as an update, or not at all.
            resizes = [v for v in candidates if set(diffs[id(v)]) == {SHAPE}]
            updates = [v for v in candidates if SHAPE not in diffs[id(v)]]
            changing = [v for v in updates if diffs[id(v)]]
            repeats = [v for v in updates if not diffs[id(v)]]
            if resizes and not changing:
                return self._resize(content, resizes, repeats)
            if resizes or not updates:
                # A resize under one reading and an update under another (or
                # no reading at all): neither is made, and both are reported.
                withheld = _union(content, [diffs[id(v)] for v in resizes + changing or candidates])
                return Plan(_newest(candidates), withheld=withheld, tied=True)
            if repeats:
                repeated = _newest(repeats)
                # Identical to a view that a later zarr write of this store came
                # from: not a repeat, but that write being undone (attrs[k] = 1;
                # del attrs[k]), or another change that happens to end there.
                undone = any(
                    v.written is not None and v.written > repeated.touched
                    and any(r.fingerprint in v.derived_from for r in repeats)
                    for v in changing
                )
                if not undone:
                    # A repeat of what the writer holds changes nothing. Another
                    # view read it as a change (undoing what happened since):
                    # that is withheld, and reported.
                    return Plan(repeated, withheld=_union(content, [diffs[id(v)] for v in changing]))
            fewest = min(len(diffs[id(v)]) for v in changing)
            closest = [v for v in changing if len(diffs[id(v)]) == fewest]
            if len(closest) > 1:
                # A holder of a view cannot know values that zarr writes of this
                # store put there after it was handed out.
                plausible = [v for v in closest if not _echoes_later_writes(v, diffs[id(v)], candidates)]
                closest = plausible or closest
            newest = _newest(closest)
            if len(closest) == 1:
                return Plan(newest, diffs[id(newest)])
            agreed = {
                change: value
                for change, value in diffs[id(newest)].items()
                if all(change in diffs[id(o)] and _same_change(diffs[id(o)][change], value) for o in closest)
            }
            withheld = {c: v for c, v in _union(content, [diffs[id(v)] for v in closest]).items() if c not in agreed}
            return Plan(newest, agreed, withheld, tied=True, bases=tuple(closest))

    @staticmethod
    def _resize(content: Content, resizes: list[View], repeats: list[View]) -> Plan:
        """A resize of one of the views in ``resizes``; the stored shape must be one of theirs.

        Which one cannot be told apart (they differ only in shape), so the
        write is compare-and-set against all their shapes: it lands if the
        writer may have read the shape stored now, and raises otherwise. A
        view identical to the write (``repeats``) reads it as a repeat
        instead: that reading is taken when the stored shape rules the resize
        out, and then nothing is written.
        """
        shapes: list[Any] = []
        for view in resizes:
            if _shape(view.content) not in shapes:
                shapes.append(_shape(view.content))
        newest = _newest(resizes)
        plan = Plan(newest, {SHAPE: _shape(content)}, tied=len(resizes) > 1 or bool(repeats))
        plan.resize_from = tuple(shapes)
        plan.otherwise = _newest(repeats) if repeats else None
        return plan


def _half(content: Content) -> str | None:
    """Which half of a v2 node a write carries (``"attributes"`` or ``"metadata"``), None if whole."""
    if content.zarr_format != 2:
        return None
    if content.metadata is None and content.attributes is not None:
        return "attributes"
    if content.attributes is None and content.metadata is not None:
        return "metadata"
    return None


def _other_half(views: list[View], half: str, since: int) -> View | None:
    """The view a blind write of the other half left while this write was under way.

    Only a write that landed after this one was planned (both in flight
    together, as zarr creates a v2 node) is taken as the same object's.
    """
    for view in reversed(views):
        landed_since = view.written is not None and view.written > since
        if view.blind_half and landed_since and _half(view.content) not in (None, half):
            return view
    return None


def _joined(content: Content, other: Content, half: str) -> Content:
    """``content`` (carrying ``half``) completed with the other half from ``other``."""
    if half == "attributes":
        return Content(2, other.node_type, other.metadata, content.attributes)
    return Content(2, content.node_type, content.metadata, other.attributes)


def _fingerprint(content: Content) -> str:
    """A canonical text of ``content``: equal for JSON-equal contents."""
    return json.dumps(
        [content.zarr_format, content.node_type, content.metadata, content.attributes],
        sort_keys=True,
        allow_nan=True,
    )


def _echoes_later_writes(view: View, diff: dict[Change, Any], candidates: list[View]) -> bool:
    """Whether reading the write from ``view`` means setting a value only later writes made."""
    for (part, key), value in diff.items():
        if value is DELETE or key is None:
            continue
        for later in candidates:
            if later.written is None or later.touched <= view.touched:
                continue
            held = later.content.part(part)
            if isinstance(held, dict) and key in held and json_equal(held[key], value):
                return True
    return False


def _newest(views: list[View]) -> View:
    return max(views, key=lambda v: v.touched)


def _union(content: Content, diffs: list[dict[Change, Any]]) -> dict[Change, Any]:
    """Every change any of ``diffs`` makes, with the value the writer of ``content`` wants there."""
    out: dict[Change, Any] = {}
    for diff in diffs:
        for change in diff:
            out.setdefault(change, _intended(content, change))
    return out


def _shape(content: Content) -> Any:
    return (content.metadata or {}).get("shape")


def _intended(content: Content, change: Change) -> Any:
    """What the writer of ``content`` wants at ``change``."""
    part, key = change
    value = content.part(part)
    if key is None:
        return DELETE if value is None else value
    return (value or {}).get(key, DELETE)
