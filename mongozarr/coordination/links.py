"""Links: named relations from one node to others, registered atomically.

A link is stored on its SOURCE node document, in a ``links`` list of
``{relation, target}`` pairs (``target`` is a node path)::

    {_id: "raw/img1", ..., links: [{relation: "labels", target: "labels/img1-cells"},
                                   {relation: "derived_from", target: "raw/img0"}]}

Why a field of its own rather than attributes: registering a link is then
one ``$addToSet`` that no plain zarr rewrite of ``zarr.json`` can undo (the
store only touches ``attributes`` and ``metadata``), and a single multikey
index on ``links.target`` answers "which nodes point at X" for every
relation at once. OME-Zarr's ``labels`` attribute lists are still yours to
write as attributes; ``relation="labels"`` is the same idea, queryable.

Targets need not exist when linked (a pipeline may register a label before
writing it). :func:`dangling_links` reports links whose target is missing;
:func:`~mongozarr.delete_node` deletes a subtree and removes (or, with
``links="keep"``, only reports) the links pointing into it;
:func:`unlink_dangling` removes every dangling link.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zarr.core.sync import sync

from mongozarr.documents import bump_version
from mongozarr.errors import NodeNotFoundError
from mongozarr.layout import LINKS, in_batches, subtree
from mongozarr.storage.faults import reading, writing

if TYPE_CHECKING:
    from mongozarr.storage.store import MongoStore

__all__ = [
    "Link",
    "backlinks",
    "backlinks_async",
    "dangling_links",
    "dangling_links_async",
    "link",
    "link_async",
    "links",
    "links_async",
    "resolve",
    "resolve_async",
    "unlink",
    "unlink_async",
    "unlink_dangling",
    "unlink_dangling_async",
]

# The connections and prefixes whose links index this process has made sure of.
_INDEXED: set[tuple[Any, ...]] = set()


@dataclass(frozen=True, order=True)
class Link:
    """One registered relation: ``source`` --``relation``--> ``target``."""

    source: str
    relation: str
    target: str


def _path(path: str) -> str:
    # Accept "/raw/img1" as well as the stored form "raw/img1".
    return path.strip("/")


def _pair(relation: str, target: str) -> dict[str, str]:
    # Key order matters for $addToSet/$pull equality: always relation, target.
    return {"relation": relation, "target": _path(target)}


def _links_of(doc: dict[str, Any]) -> list[Link]:
    return [Link(doc["_id"], pair["relation"], pair["target"]) for pair in doc.get(LINKS) or []]


async def _ensure_index(store: MongoStore, nodes: Any) -> None:
    # Made by the first link registration, never by a read: reads write nothing.
    token = (store.connection.identity(), store.prefix)
    if token not in _INDEXED:
        await nodes.create_index(f"{LINKS}.target", name=f"{LINKS}_target_1")
        _INDEXED.add(token)


@writing
async def link_async(store: MongoStore, source: str, target: str, relation: str = "labels") -> bool:
    """Async form of :func:`link`."""
    store.check_writable()
    nodes = store.nodes()
    await _ensure_index(store, nodes)
    pair = _pair(relation, target)
    result = await nodes.update_one(
        {"_id": _path(source), LINKS: {"$not": {"$elemMatch": pair}}},
        {"$addToSet": {LINKS: pair}, **bump_version()},
    )
    if result.matched_count:
        return True
    if await nodes.find_one({"_id": _path(source)}, {"_id": 1}) is None:
        raise NodeNotFoundError(f"no node at {source!r}")
    return False


def link(store: MongoStore, source: str, target: str, relation: str = "labels") -> bool:
    """Register ``source`` --``relation``--> ``target`` (one atomic ``$addToSet``).

    Parameters
    ----------
    store
        The store holding both nodes.
    source, target
        Node paths; the target need not exist yet.
    relation
        The relation's name, e.g. ``"labels"`` or ``"derived_from"``.

    Returns
    -------
    bool
        True if the link is new, False if it was already registered.

    Raises
    ------
    NodeNotFoundError
        If there is no node at ``source`` (a ``KeyError``).
    """
    return sync(link_async(store, source, target, relation))


@writing
async def unlink_async(store: MongoStore, source: str, target: str, relation: str = "labels") -> bool:
    """Async form of :func:`unlink`."""
    store.check_writable()
    pair = _pair(relation, target)
    result = await store.nodes().update_one(
        {"_id": _path(source), LINKS: {"$elemMatch": pair}}, {"$pull": {LINKS: pair}, **bump_version()}
    )
    return bool(result.matched_count)


def unlink(store: MongoStore, source: str, target: str, relation: str = "labels") -> bool:
    """Remove one link; False if it was not registered."""
    return sync(unlink_async(store, source, target, relation))


@reading
async def links_async(store: MongoStore, source: str, relation: str | None = None) -> list[Link]:
    """Async form of :func:`links`."""
    doc = await store.nodes().find_one({"_id": _path(source)}, {LINKS: 1})
    if doc is None:
        raise NodeNotFoundError(f"no node at {source!r}")
    return [lk for lk in _links_of(doc) if relation is None or lk.relation == relation]


def links(store: MongoStore, source: str, relation: str | None = None) -> list[Link]:
    """The links registered on ``source`` (of one relation, or all), in registration order.

    Raises
    ------
    NodeNotFoundError
        If there is no node at ``source`` (a ``KeyError``).
    """
    return sync(links_async(store, source, relation))


@reading
async def backlinks_async(store: MongoStore, target: str, relation: str | None = None) -> list[Link]:
    """Async form of :func:`backlinks`."""
    target = _path(target)
    match = {"target": target} if relation is None else {"target": target, "relation": relation}
    docs = await store.nodes().find({LINKS: {"$elemMatch": match}}, {LINKS: 1}).to_list()
    found = [
        lk
        for doc in docs
        for lk in _links_of(doc)
        if lk.target == target and (relation is None or lk.relation == relation)
    ]
    return sorted(found)


def backlinks(store: MongoStore, target: str, relation: str | None = None) -> list[Link]:
    """Every link pointing at ``target`` ("which nodes point at X"), from one query."""
    return sync(backlinks_async(store, target, relation))


@reading
async def resolve_async(
    store: MongoStore, path: str, relation: str | None = None, depth: int | None = None
) -> list[str]:
    """Async form of :func:`resolve`."""
    nodes = store.nodes()
    start = _path(path)
    visited = {start}
    order: list[str] = []
    frontier = [start]
    level = 0
    while frontier and (depth is None or level < depth):
        by_id = {
            doc["_id"]: _links_of(doc)
            for batch in in_batches(frontier)
            for doc in await nodes.find({"_id": {"$in": list(batch)}}, {LINKS: 1}).to_list()
        }
        next_frontier = []
        for source in frontier:  # keep breadth-first, registration order
            for lk in by_id.get(source, []):
                if relation is not None and lk.relation != relation:
                    continue
                if lk.target not in visited:
                    visited.add(lk.target)
                    order.append(lk.target)
                    next_frontier.append(lk.target)
        frontier = next_frontier
        level += 1
    return order


def resolve(store: MongoStore, path: str, relation: str | None = None, depth: int | None = None) -> list[str]:
    """The nodes reachable from ``path`` by following links, breadth-first.

    Each node is listed once, so cycles (``a -> b -> a``) end the walk instead
    of looping; ``path`` itself is not listed. One query per level.

    Parameters
    ----------
    relation
        Follow only links of this relation (None: all).
    depth
        Follow at most this many links from ``path`` (None: until no new node).
    """
    return sync(resolve_async(store, path, relation, depth))


@reading
async def dangling_links_async(store: MongoStore, under: str | None = None) -> list[Link]:
    """Async form of :func:`dangling_links`."""
    nodes = store.nodes()
    scope = subtree(_path(under or ""))
    docs = await nodes.find({**scope, f"{LINKS}.0": {"$exists": True}}, {LINKS: 1}).to_list()
    all_links = [lk for doc in docs for lk in _links_of(doc)]
    targets = sorted({lk.target for lk in all_links})
    present = {
        d["_id"]
        for batch in in_batches(targets)
        for d in await nodes.find({"_id": {"$in": list(batch)}}, {"_id": 1}).to_list()
    }
    return sorted(lk for lk in all_links if lk.target not in present)


def dangling_links(store: MongoStore, under: str | None = None) -> list[Link]:
    """Links (from nodes at or below ``under``) whose target node does not exist."""
    return sync(dangling_links_async(store, under))


@writing
async def unlink_dangling_async(store: MongoStore, under: str | None = None) -> list[Link]:
    """Async form of :func:`unlink_dangling`."""
    store.check_writable()
    found = await dangling_links_async(store, under)
    for lk in found:
        await unlink_async(store, lk.source, lk.target, lk.relation)
    return found


def unlink_dangling(store: MongoStore, under: str | None = None) -> list[Link]:
    """Remove every dangling link (from nodes at or below ``under``); returns them.

    A target created between the check and the removal loses its link
    anyway; re-register it if that can happen in your pipeline.
    """
    return sync(unlink_dangling_async(store, under))
