"""Delete a node and its subtree, and deal with the links that pointed into it.

A deletion cut short (a crash after the node documents went, before their
chunks or the links into them did) is finished by calling it again: a path
with no node document but chunks or links left under it is not "not found".

Links from inside the subtree live on its node documents and go with them;
links from outside stay on their source nodes and would dangle. By default
they are removed; ``links="keep"`` leaves them for :func:`~mongozarr.dangling_links`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from zarr.core.sync import sync

from mongozarr.coordination.links import Link, unlink_async
from mongozarr.errors import NodeNotFoundError
from mongozarr.layout import LINKS, prefix_regex, subtree
from mongozarr.storage.faults import writing

if TYPE_CHECKING:
    from mongozarr.storage.store import MongoStore

__all__ = ["delete_node", "delete_node_async"]


@writing
async def delete_node_async(
    store: MongoStore, path: str, *, links: Literal["remove", "keep"] = "remove"
) -> list[Link]:
    """Async form of :func:`delete_node`."""
    if links not in ("remove", "keep"):
        raise ValueError(f"links must be 'remove' or 'keep', not {links!r}")
    store.check_writable()
    nodes = store.nodes()
    base = path.strip("/")
    if await nodes.find_one({"_id": base}, {"_id": 1}) is None and not await _left_over(store, base):
        raise NodeNotFoundError(f"no node at {path!r}")
    await store.delete_dir(base)
    # Links from inside the subtree went with its documents; links into it remain.
    into = {**subtree(base, field=f"{LINKS}.target"), f"{LINKS}.0": {"$exists": True}}
    docs = await nodes.find(into, {LINKS: 1}).to_list()
    pointing = sorted(
        Link(doc["_id"], pair["relation"], pair["target"])
        for doc in docs
        for pair in doc.get(LINKS) or []
        if not base or pair["target"] == base or pair["target"].startswith(base + "/")
    )
    if links == "remove":
        for lk in pointing:
            await unlink_async(store, lk.source, lk.target, lk.relation)
    return pointing


async def _left_over(store: MongoStore, base: str) -> bool:
    """Whether a deletion of ``base`` cut short (node documents gone first) left chunks or links into it."""
    if not base:
        return False
    db = store.database()
    if await db[store.layout.chunks].find_one({"_id": prefix_regex(base + "/")}, {"_id": 1}) is not None:
        return True
    return await store.nodes().find_one(subtree(base, field=f"{LINKS}.target"), {"_id": 1}) is not None


def delete_node(store: MongoStore, path: str, *, links: Literal["remove", "keep"] = "remove") -> list[Link]:
    """Delete the node at ``path`` and its subtree, and deal with links into it.

    Parameters
    ----------
    store
        The store holding the node.
    path
        The node to delete, with everything below it.
    links
        ``"remove"`` (default) pulls every link that pointed into the deleted
        subtree; ``"keep"`` leaves them, dangling, for :func:`~mongozarr.dangling_links`.

    Returns
    -------
    list of Link
        The links from outside that pointed into the deleted subtree.

    Raises
    ------
    NodeNotFoundError
        If there is no node at ``path`` (a ``KeyError``).
    """
    return sync(delete_node_async(store, path, links=links))
