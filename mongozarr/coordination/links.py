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
:func:`delete_node` deletes a subtree and removes (or, with
``links="keep"``, only reports) the links pointing into it;
:func:`unlink_dangling` removes every dangling link.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from zarr.core.sync import sync

from mongozarr.documents import bump_version
from mongozarr.errors import NodeNotFoundError
from mongozarr.layout import prefix_regex

if TYPE_CHECKING:
    from mongozarr.storage.store import MongoStore

__all__ = [
    "Link",
    "backlinks",
    "dangling_links",
    "delete_node",
    "link",
    "links",
    "resolve",
    "unlink",
    "unlink_dangling",
]

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


async def _nodes(store: MongoStore) -> Any:
    db = store.database()
    nodes = db[store.nodes_collection_name]
    token = (store.connection.identity(), store.prefix)
    if token not in _INDEXED:
        await nodes.create_index("links.target", name="links_target_1")
        _INDEXED.add(token)
    return nodes


async def _link(store: MongoStore, source: str, target: str, relation: str) -> bool:
    nodes = await _nodes(store)
    pair = _pair(relation, target)
    result = await nodes.update_one(
        {"_id": _path(source), "links": {"$not": {"$elemMatch": pair}}},
        {"$addToSet": {"links": pair}, **bump_version()},
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
    KeyError
        If there is no node at ``source``.
    """
    return sync(_link(store, source, target, relation))


async def _unlink(store: MongoStore, source: str, target: str, relation: str) -> bool:
    nodes = await _nodes(store)
    pair = _pair(relation, target)
    result = await nodes.update_one(
        {"_id": _path(source), "links": {"$elemMatch": pair}}, {"$pull": {"links": pair}, **bump_version()}
    )
    return bool(result.matched_count)


def unlink(store: MongoStore, source: str, target: str, relation: str = "labels") -> bool:
    """Remove one link; False if it was not registered."""
    return sync(_unlink(store, source, target, relation))


def _relation_filter(relation: str | None) -> dict[str, Any]:
    return {} if relation is None else {"relation": relation}


async def _links(store: MongoStore, source: str, relation: str | None) -> list[Link]:
    nodes = await _nodes(store)
    doc = await nodes.find_one({"_id": _path(source)}, {"links": 1})
    if doc is None:
        raise NodeNotFoundError(f"no node at {source!r}")
    return [
        Link(doc["_id"], pair["relation"], pair["target"])
        for pair in doc.get("links") or []
        if relation is None or pair["relation"] == relation
    ]


def links(store: MongoStore, source: str, relation: str | None = None) -> list[Link]:
    """The links registered on ``source`` (of one relation, or all), in registration order."""
    return sync(_links(store, source, relation))


async def _backlinks(store: MongoStore, target: str, relation: str | None) -> list[Link]:
    nodes = await _nodes(store)
    target = _path(target)
    match = {"target": target, **_relation_filter(relation)}
    docs = await nodes.find({"links": {"$elemMatch": match}}, {"links": 1}).to_list()
    found = [
        Link(doc["_id"], pair["relation"], pair["target"])
        for doc in docs
        for pair in doc.get("links") or []
        if pair["target"] == target and (relation is None or pair["relation"] == relation)
    ]
    return sorted(found)


def backlinks(store: MongoStore, target: str, relation: str | None = None) -> list[Link]:
    """Every link pointing at ``target`` ("which nodes point at X"), from one query."""
    return sync(_backlinks(store, target, relation))


async def _resolve(store: MongoStore, path: str, relation: str | None, depth: int | None) -> list[str]:
    nodes = await _nodes(store)
    start = _path(path)
    visited = {start}
    order: list[str] = []
    frontier = [start]
    level = 0
    while frontier and (depth is None or level < depth):
        docs = await nodes.find({"_id": {"$in": frontier}}, {"links": 1}).to_list()
        by_id = {doc["_id"]: doc.get("links") or [] for doc in docs}
        next_frontier = []
        for source in frontier:  # keep breadth-first, registration order
            for pair in by_id.get(source, []):
                if relation is not None and pair["relation"] != relation:
                    continue
                if pair["target"] not in visited:
                    visited.add(pair["target"])
                    order.append(pair["target"])
                    next_frontier.append(pair["target"])
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
    return sync(_resolve(store, path, relation, depth))


def _under(path: str | None) -> dict[str, Any]:
    if not path or not _path(path):
        return {}
    base = _path(path)
    return {"$or": [{"_id": base}, {"_id": prefix_regex(base + "/")}]}


async def _dangling(store: MongoStore, under: str | None) -> list[Link]:
    nodes = await _nodes(store)
    docs = await nodes.find({**_under(under), "links.0": {"$exists": True}}, {"links": 1}).to_list()
    all_links = [Link(d["_id"], p["relation"], p["target"]) for d in docs for p in d.get("links") or []]
    targets = sorted({lk.target for lk in all_links})
    present = {d["_id"] for d in await nodes.find({"_id": {"$in": targets}}, {"_id": 1}).to_list()}
    return sorted(lk for lk in all_links if lk.target not in present)


def dangling_links(store: MongoStore, under: str | None = None) -> list[Link]:
    """Links (from nodes at or below ``under``) whose target node does not exist."""
    return sync(_dangling(store, under))


async def _remove(nodes: Any, found: list[Link]) -> None:
    for item in found:
        pair = _pair(item.relation, item.target)
        await nodes.update_one({"_id": item.source, "links": {"$elemMatch": pair}}, {"$pull": {"links": pair}, **bump_version()})


async def _unlink_dangling(store: MongoStore, under: str | None) -> list[Link]:
    found = await _dangling(store, under)
    await _remove(await _nodes(store), found)
    return found


def unlink_dangling(store: MongoStore, under: str | None = None) -> list[Link]:
    """Remove every dangling link (from nodes at or below ``under``); returns them.

    A target created between the check and the removal loses its link
    anyway; re-register it if that can happen in your pipeline.
    """
    return sync(_unlink_dangling(store, under))


async def _delete_node(store: MongoStore, path: str, keep: bool) -> list[Link]:
    nodes = await _nodes(store)
    base = _path(path)
    if await nodes.find_one({"_id": base}, {"_id": 1}) is None:
        raise NodeNotFoundError(f"no node at {path!r}")
    await store.delete_dir(base)
    # Links from inside the subtree went with its documents; links into it remain.
    into = (
        {"$or": [{"links.target": base}, {"links.target": prefix_regex(base + "/")}]}
        if base
        else {"links.0": {"$exists": True}}
    )
    docs = await nodes.find(into, {"links": 1}).to_list()
    pointing = sorted(
        Link(d["_id"], p["relation"], p["target"])
        for d in docs
        for p in d.get("links") or []
        if not base or p["target"] == base or p["target"].startswith(base + "/")
    )
    if not keep:
        await _remove(nodes, pointing)
    return pointing


def delete_node(store: MongoStore, path: str, *, links: Literal["remove", "keep"] = "remove") -> list[Link]:
    """Delete the node at ``path`` and its subtree, and deal with links into it.

    Parameters
    ----------
    links
        ``"remove"`` (default) pulls every link that pointed into the deleted
        subtree; ``"keep"`` leaves them, dangling, for :func:`dangling_links`.

    Returns
    -------
    list of Link
        The links from outside that pointed into the deleted subtree.
    """
    if links not in ("remove", "keep"):
        raise ValueError(f"links must be 'remove' or 'keep', not {links!r}")
    return sync(_delete_node(store, path, keep=links == "keep"))
