"""The Tree: the sync form of :class:`~mongozarr.tree.AsyncTree`.

Each method runs the :class:`AsyncTree` coroutine of the same name on zarr's
event loop with :func:`zarr.core.sync.sync` and hands back zarr's sync
``Group``/``Array`` where the coroutine returns async nodes, so a Tree can
share its store with plain zarr objects. Inside a running event loop use
the :class:`AsyncTree` itself (:attr:`Tree.async_tree`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

from zarr.core.sync import sync

from mongozarr.coordination.append import AppendRegion
from mongozarr.coordination.lease import DEFAULT_TTL, Lease, lease
from mongozarr.coordination.links import Link
from mongozarr.coordination.watch import Watch, watch
from mongozarr.storage.store import MongoStore
from mongozarr.tree.async_tree import AsyncTree, tree_store
from mongozarr.tree.nodes import Node, sync_node

__all__ = ["Tree", "open_tree"]


class Tree:
    """A zarr hierarchy in MongoDB, addressed by zpaths and queried like a database.

    Parameters
    ----------
    store
        The :class:`~mongozarr.MongoStore` holding the hierarchy.

    Notes
    -----
    ``tree["/a/b"]`` is the zarr Group or Array at ``/a/b``;
    ``tree["/a/b@spam/eggs"]`` reads, ``=`` writes (``$set``) and ``del``
    removes (``$unset``) one attribute, each as one atomic MongoDB update that
    creates missing intermediate keys. Writing an attribute of a node that
    does not exist raises :class:`~mongozarr.errors.NodeNotFoundError` (a
    ``KeyError``): nodes are created with zarr, which knows their metadata.
    Every method is the sync form of the :class:`~mongozarr.tree.AsyncTree`
    method of the same name, documented there.
    """

    def __init__(self, store: MongoStore) -> None:
        self._async = AsyncTree(store)

    @property
    def async_tree(self) -> AsyncTree:
        """The async core of this Tree (same store, same nodes), for use inside an event loop."""
        return self._async

    @property
    def store(self) -> MongoStore:
        """The store holding this tree."""
        return self._async.store

    def __repr__(self) -> str:
        return f"Tree({self.store!r})"

    # ---------------------------------------------------------------- zpaths

    def __getitem__(self, zpath: str) -> Any:
        return sync_node(sync(self._async.get(zpath)))

    def get(self, zpath: str, default: Any = None) -> Any:
        """``tree[zpath]``, or ``default`` if the node or attribute is missing."""
        return sync_node(sync(self._async.get(zpath, default)))

    def __contains__(self, zpath: object) -> bool:
        return isinstance(zpath, str) and self.contains(zpath)

    def contains(self, zpath: str) -> bool:
        """Whether the node (or attribute) ``zpath`` names exists: ``zpath in tree``."""
        return sync(self._async.contains(zpath))

    def __setitem__(self, zpath: str, value: Any) -> None:
        self.set(zpath, value)

    def set(self, zpath: str, value: Any) -> None:
        """``tree[zpath] = value``: set one attribute (one atomic ``$set``)."""
        sync(self._async.set(zpath, value))

    def __delitem__(self, zpath: str) -> None:
        self.delete(zpath)

    def delete(self, zpath: str) -> None:
        """``del tree[zpath]``: remove one attribute (one atomic ``$unset``)."""
        sync(self._async.delete(zpath))

    def attributes(self, path: str) -> dict[str, Any]:
        """All attributes of the node at ``path``, in one read."""
        return sync(self._async.attributes(path))

    def version(self, path: str) -> int:
        """The node document's version (bumped by every write), for ``expected_version``."""
        return sync(self._async.version(path))

    def info(self, path: str) -> dict[str, Any]:
        """A summary of the node at ``path``: kind, format, shape, attributes, version."""
        return sync(self._async.info(path))

    # --------------------------------------------------------------- updates

    def update(
        self,
        path: str,
        ops: dict[str, Any],
        *,
        return_attributes: bool = False,
        expected_version: int | None = None,
    ) -> dict[str, Any] | None:
        """Apply MongoDB update operators to a node's attributes, atomically.

        See :meth:`AsyncTree.update <mongozarr.tree.AsyncTree.update>` for
        the operators, the options and the errors.
        """
        return sync(
            self._async.update(path, ops, return_attributes=return_attributes, expected_version=expected_version)
        )

    # --------------------------------------------------------------- queries

    def find(
        self,
        query: dict[str, Any] | None = None,
        *,
        under: str | None = None,
        node_type: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Node]:
        """The groups and arrays whose documents match ``query``, in path order.

        One ``find`` command, read when called; see :meth:`AsyncTree.find
        <mongozarr.tree.AsyncTree.find>` for the query language.

        Returns
        -------
        Iterator of zarr.Group and zarr.Array
        """
        found = sync(self._async.find(query, under=under, node_type=node_type, limit=limit))
        return iter([sync_node(node) for node in found])

    def walk(self, path: str = "/") -> Iterator[Node]:
        """The node at ``path`` and every group and array below it, in path order (one ``find``)."""
        return iter([sync_node(node) for node in sync(self._async.walk(path))])

    def count(
        self, query: dict[str, Any] | None = None, *, under: str | None = None, node_type: str | None = None
    ) -> int:
        """How many nodes :meth:`find` would return (one ``count`` on the server)."""
        return sync(self._async.count(query, under=under, node_type=node_type))

    def distinct(
        self,
        key: str,
        query: dict[str, Any] | None = None,
        *,
        under: str | None = None,
        node_type: str | None = None,
    ) -> list[Any]:
        """The distinct values of an attribute path (or structural field) among matching nodes.

        As in MongoDB, list values contribute their elements.
        """
        return sync(self._async.distinct(key, query, under=under, node_type=node_type))

    def create_index(self, *keys: str, name: str | None = None) -> str:
        """Index attribute paths (or structural fields) that queries filter on.

        Several keys make one compound index, in order. Returns the index name.
        """
        return sync(self._async.create_index(*keys, name=name))

    def explain(
        self, query: dict[str, Any] | None = None, *, under: str | None = None, node_type: str | None = None
    ) -> dict[str, Any]:
        """The server's query plan for :meth:`find` (``explain``, queryPlanner verbosity)."""
        return sync(self._async.explain(query, under=under, node_type=node_type))

    # ------------------------------------------------- many-writer pipelines

    def append(self, path: str, data: Any, axis: int = 0) -> AppendRegion:
        """Append ``data`` to the array at ``path``; see :func:`mongozarr.append`."""
        return sync(self._async.append(path, data, axis))

    def incomplete_appends(self, path: str) -> list[AppendRegion]:
        """Append regions reserved at ``path`` but never completed; see :func:`mongozarr.incomplete_appends`."""
        return sync(self._async.incomplete_appends(path))

    def lease(
        self, path: str, *, ttl: float | None = None, wait: float | None = 0.0
    ) -> AbstractContextManager[Lease]:
        """An exclusive, expiring lease on ``path`` (a context manager); see :func:`mongozarr.lease`."""
        # The sync lease waits in the caller's thread, not on zarr's loop.
        return lease(self.store, path.strip("/"), ttl=DEFAULT_TTL if ttl is None else ttl, wait=wait)

    def link(self, source: str, target: str, relation: str = "labels") -> bool:
        """Register ``source`` as related to ``target`` (atomic); see :func:`mongozarr.link`."""
        return sync(self._async.link(source, target, relation))

    def backlinks(self, target: str, relation: str | None = None) -> list[Link]:
        """The links that point at ``target``; see :func:`mongozarr.backlinks`."""
        return sync(self._async.backlinks(target, relation))

    def watch(self, under: str | None = None, query: dict[str, Any] | None = None, **kwargs: Any) -> Watch:
        """Metadata change events below ``under`` (an iterator); see :func:`mongozarr.watch`."""
        # The sync Watch sleeps between polls in the caller's thread, not on zarr's loop.
        return watch(self.store, under=under, query=query, **kwargs)


def open_tree(target: Any, **store_kwargs: Any) -> Tree:
    """Open the hierarchy at a MongoDB URI, client or :class:`~mongozarr.MongoStore` as a :class:`Tree`.

    Parameters
    ----------
    target
        A ``MongoStore``, or what :class:`~mongozarr.MongoStore` accepts (a
        ``mongodb://``/``mongomock://`` URI or a client).
    **store_kwargs
        Passed to :class:`~mongozarr.MongoStore` (``prefix``, ``read_only``, ...).
    """
    return Tree(tree_store(target, **store_kwargs))
