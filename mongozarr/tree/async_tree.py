"""AsyncTree: zpath access, atomic attribute updates and queries over a MongoStore, async.

The core of the Tree. Every operation is a coroutine of one MongoDB command
on the node documents (plus a second read only to explain a failure), so it
runs inside any event loop; :class:`~mongozarr.Tree` is its sync form. Nodes
it returns are zarr ``AsyncGroup``/``AsyncArray`` objects built from the
documents already read: no further reads.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from pymongo.errors import ConnectionFailure, OperationFailure
from zarr import AsyncArray

from mongozarr.coordination.append import AppendRegion, append_async, incomplete_appends_async
from mongozarr.coordination.lease import DEFAULT_TTL, Lease, lease_async
from mongozarr.coordination.links import Link, backlinks_async, link_async
from mongozarr.coordination.watch import AsyncWatch, watch_async
from mongozarr.documents import bump_version, decode_value, escape_key
from mongozarr.errors import (
    AttributeNotFoundError,
    NodeNotFoundError,
    NotAnArrayError,
    QueryError,
)
from mongozarr.layout import NODES_PER_REPLY, subtree
from mongozarr.query import (
    all_of,
    attribute_field,
    check_update_size,
    node_filter,
    query_field,
    to_mongo_update,
)
from mongozarr.storage.faults import fault
from mongozarr.storage.store import MongoStore
from mongozarr.tree.node_updates import write_node
from mongozarr.tree.nodes import (
    AsyncNode,
    attribute_at,
    node_from_document,
    node_info,
    nodes_from_documents,
)
from mongozarr.zpath import (
    format_attribute_path,
    format_node_path,
    parse_node_path,
    parse_zpath,
)

__all__ = ["AsyncTree", "open_tree_async", "tree_store"]

# "No default given" for get(), where None is a legitimate default.
_RAISE: Any = object()


class AsyncTree:
    """A zarr hierarchy in MongoDB, addressed by zpaths and queried like a database (async).

    Parameters
    ----------
    store
        The :class:`~mongozarr.MongoStore` holding the hierarchy.

    Notes
    -----
    ``await atree.get("/a/b")`` is the zarr ``AsyncGroup`` or ``AsyncArray`` at
    ``/a/b``; ``await atree.get("/a/b@spam/eggs")`` reads, ``set`` writes
    (``$set``) and ``delete`` removes (``$unset``) one attribute, each as one
    atomic MongoDB update that creates missing intermediate keys. Nodes are
    created with zarr, which knows their metadata. :class:`~mongozarr.Tree`
    is the same with a sync API and ``tree[zpath]`` item access.
    """

    def __init__(self, store: MongoStore) -> None:
        if not isinstance(store, MongoStore):
            raise TypeError(f"a Tree needs a MongoStore, got {type(store).__name__}")
        self._store = store
        # Groups and arrays the Tree returns live on a sibling store, so what
        # they hold never stands in for what the caller's own zarr objects
        # hold when either writes zarr.json (the merge base, see MongoStore).
        self._node_store = store.sibling()

    @property
    def store(self) -> MongoStore:
        """The store holding this tree."""
        return self._store

    def __repr__(self) -> str:
        return f"AsyncTree({self._store!r})"

    # ---------------------------------------------------------------- zpaths

    async def get(self, zpath: str, default: Any = _RAISE) -> Any:
        """The node or attribute value at ``zpath``.

        Parameters
        ----------
        zpath
            ``"/a/b"`` for the zarr ``AsyncGroup``/``AsyncArray`` at ``/a/b``,
            ``"/a/b@spam/eggs"`` for the value of an attribute.
        default
            Returned when the node or attribute is missing; without it, that raises.

        Raises
        ------
        NodeNotFoundError
            No group or array at the node path (and no ``default``).
        AttributeNotFoundError
            No such attribute (and no ``default``).
        """
        parsed = parse_zpath(zpath)
        try:
            if parsed.attribute is None:
                return await self._node(parsed.node)
            return await self._attribute(parsed.node, parsed.attribute, zpath)
        except (NodeNotFoundError, AttributeNotFoundError):
            if default is _RAISE:
                raise
            return default

    async def contains(self, zpath: str) -> bool:
        """Whether the node (or attribute) ``zpath`` names exists."""
        parsed = parse_zpath(zpath)
        query: dict[str, Any] = {"_id": parsed.node, "node_type": {"$in": ["group", "array"]}}
        if parsed.attribute is not None:
            query[attribute_field(parsed.attribute)] = {"$exists": True}
        return await self._store.nodes().find_one(query, {"_id": 1}) is not None

    async def set(self, zpath: str, value: Any) -> None:
        """Set the attribute ``zpath`` names (one atomic ``$set``; creates missing keys).

        Raises
        ------
        TypeError
            ``zpath`` names a node: nodes are created with zarr.
        NodeNotFoundError
            No group or array at the node path.
        """
        parsed = parse_zpath(zpath)
        if parsed.attribute is None:
            raise TypeError(
                f"{zpath!r} names a node; assign an attribute ('{zpath}@key'), "
                "and create groups and arrays with zarr"
            )
        ops = {"$set": {format_attribute_path(parsed.attribute): value}}
        await self._update(parsed.node, ops, False, None, zpath)

    async def delete(self, zpath: str) -> None:
        """Remove the attribute ``zpath`` names (one atomic ``$unset``).

        Raises
        ------
        TypeError
            ``zpath`` names a node: nodes are deleted with zarr.
        AttributeNotFoundError
            No such attribute.
        """
        parsed = parse_zpath(zpath)
        if parsed.attribute is None:
            raise TypeError(f"{zpath!r} names a node; delete nodes with zarr, attributes with '@'")
        self._store.check_writable()
        field = attribute_field(parsed.attribute)
        update = {"$unset": {field: ""}, **bump_version()}
        await write_node(self._store, parsed.node, {field: {"$exists": True}}, update, {"_id": 1}, None, zpath)

    async def attributes(self, path: str) -> dict[str, Any]:
        """All attributes of the node at ``path``, in one read."""
        doc = await self._find_one(parse_node_path(path), {"attributes": 1})
        return decode_value(doc.get("attributes") or {})

    async def version(self, path: str) -> int:
        """The node document's version (bumped by every write), for ``expected_version``."""
        doc = await self._find_one(parse_node_path(path), {"version": 1})
        return int(doc.get("version", 0))

    async def info(self, path: str) -> dict[str, Any]:
        """A summary of the node at ``path``: kind, format, shape, attributes, version."""
        return node_info(await self._find_one(parse_node_path(path), None))

    async def _node(self, path: str) -> AsyncNode:
        node = node_from_document(self._node_store, await self._find_one(path, None))
        if node is None:
            raise NodeNotFoundError(f"no group or array at {format_node_path(path)!r}")
        return node

    async def _attribute(self, path: str, keys: tuple[str, ...], zpath: str) -> Any:
        # Project the outermost key only: a dotted projection cannot index lists.
        doc = await self._find_one(path, {"attributes." + escape_key(keys[0]): 1})
        return attribute_at(decode_value(doc.get("attributes") or {}), keys, zpath)

    async def _find_one(self, path: str, projection: dict[str, Any] | None) -> dict[str, Any]:
        try:
            doc = await self._store.nodes().find_one({"_id": path}, projection)
        except ConnectionFailure as exc:
            raise fault(exc, format_node_path(path), write=False) from exc
        if doc is None:
            raise NodeNotFoundError(f"no group or array at {format_node_path(path)!r}")
        return doc

    # --------------------------------------------------------------- updates

    async def update(
        self,
        path: str,
        ops: dict[str, Any],
        *,
        return_attributes: bool = False,
        expected_version: int | None = None,
    ) -> dict[str, Any] | None:
        """Apply MongoDB update operators to a node's attributes, atomically.

        Parameters
        ----------
        path
            The node (``"/raw/img1"``).
        ops
            ``{operator: {attribute path: operand}}``: ``$set $unset $inc $mul
            $min $max $push`` (with ``$each``/``$slice``/``$position``/``$sort``)
            ``$addToSet`` (with ``$each``) ``$pull $rename``. Attribute paths
            are written as after the ``@`` of a zpath (``"spam/count"``); missing
            intermediate keys are created.
        return_attributes
            Return the node's attributes as they are after this update.
        expected_version
            Apply only if the node document is at this version
            (:meth:`version`); otherwise raise ``ConflictError``.

        Returns
        -------
        dict or None
            The new attributes if ``return_attributes``, else ``None``.

        Raises
        ------
        QueryError
            Unknown operator, malformed operand, or an update MongoDB refused
            (like ``$inc`` on a string).
        NodeNotFoundError
            No node at ``path``.
        ConflictError
            The node is not at ``expected_version``.
        DocumentTooLargeError
            The values cannot fit one 16 MiB document (nothing is written).
        """
        return await self._update(parse_node_path(path), ops, return_attributes, expected_version, path)

    async def _update(
        self, node: str, ops: dict[str, Any], return_attributes: bool, expected_version: int | None, what: str
    ) -> dict[str, Any] | None:
        self._store.check_writable()
        update = to_mongo_update(ops)
        carried = check_update_size(update, what)
        stamp = bump_version()
        update.setdefault("$inc", {}).update(stamp["$inc"])
        update["$currentDate"] = stamp["$currentDate"]
        projection = {"attributes": 1, "version": 1} if return_attributes else {"version": 1}
        doc = await write_node(self._store, node, {}, update, projection, expected_version, what, carried)
        return decode_value(doc.get("attributes") or {}) if return_attributes else None

    # --------------------------------------------------------------- queries

    async def find(
        self,
        query: dict[str, Any] | None = None,
        *,
        under: str | None = None,
        node_type: str | None = None,
        limit: int | None = None,
    ) -> list[AsyncNode]:
        """The groups and arrays whose documents match ``query``, in path order.

        Parameters
        ----------
        query
            Keys are attribute paths (``"subject"``, ``"spam/eggs"``; ``"a.b"``
            is the one key ``a.b``; ``"@name"`` forces the attribute meaning)
            or structural fields (``path``, ``parent``, ``name``, ``depth``,
            ``node_type``, ``zarr_format``, ``shape``, ``data_type``,
            ``chunk_grid``, ``version``, ``updated_at``); values are JSON
            values or MongoDB operators (``$gt``, ``$in``, ``$exists``,
            ``$regex``, ``$elemMatch``, ...), combined with ``$and``/``$or``/``$nor``.
        under
            Only nodes strictly below this node path.
        node_type
            ``"group"`` or ``"array"``.
        limit
            At most this many nodes (the first ones in path order).

        Returns
        -------
        list of zarr.AsyncGroup and zarr.AsyncArray
            A list rather than an async iterator because the answer is one
            ``find`` command (one round trip up to 25,000 nodes) read whole;
            the nodes are built from its documents without reading their
            metadata again.
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise QueryError(f"limit must be a non-negative integer, got {limit!r}")
        return await self._nodes_matching(node_filter(query, under, node_type), limit)

    async def walk(self, path: str = "/") -> list[AsyncNode]:
        """The node at ``path`` and every group and array below it, in path order (one ``find``).

        Raises
        ------
        NodeNotFoundError
            No group or array at ``path``.
        """
        node = parse_node_path(path)
        found = await self._nodes_matching(subtree(node), None)
        if not found or found[0].path != node:
            raise NodeNotFoundError(f"no group or array at {format_node_path(node)!r}")
        return found

    async def _nodes_matching(self, mongo_filter: dict[str, Any], limit: int | None) -> list[AsyncNode]:
        if limit == 0:
            return []
        cursor = self._store.nodes().find(mongo_filter, batch_size=NODES_PER_REPLY)
        try:
            if limit is not None:
                # Sorting on the server makes the limit pick the first paths.
                documents = await cursor.sort("_id", 1).limit(limit).to_list()
            else:
                documents = await cursor.to_list()
        except OperationFailure as exc:
            # An invalid $regex, $type or $mod is only found out by the server.
            raise QueryError(f"MongoDB refused the query: {exc.details.get('errmsg') if exc.details else exc}") from None
        except ConnectionFailure as exc:
            raise fault(exc, "find", write=False) from exc
        documents.sort(key=lambda d: str(d["_id"]))
        return nodes_from_documents(self._node_store, documents)

    async def count(
        self, query: dict[str, Any] | None = None, *, under: str | None = None, node_type: str | None = None
    ) -> int:
        """How many nodes :meth:`find` would return (one ``count`` on the server)."""
        return int(await self._store.nodes().count_documents(node_filter(query, under, node_type)))

    async def distinct(
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
        field, is_path = query_field(key)
        # Nodes without the field contribute nothing (the mongoeco server
        # would otherwise report a None for them).
        mongo_filter = all_of(node_filter(query, under, node_type), {field: {"$exists": True}})
        values = await self._store.nodes().distinct(field, mongo_filter)
        if is_path:
            return [format_node_path(v) if isinstance(v, str) else v for v in values]
        return [decode_value(v) for v in values]

    async def create_index(self, *keys: str, name: str | None = None) -> str:
        """Index attribute paths (or structural fields) that queries filter on.

        Several keys make one compound index, in order. Returns the index name.
        """
        self._store.check_writable()
        if not keys:
            raise QueryError("create_index needs at least one attribute path")
        spec = [(query_field(key)[0], 1) for key in keys]
        options = {"name": name} if name else {}
        return str(await self._store.nodes().create_index(spec, **options))

    async def explain(
        self, query: dict[str, Any] | None = None, *, under: str | None = None, node_type: str | None = None
    ) -> dict[str, Any]:
        """The server's query plan for :meth:`find` (``explain``, queryPlanner verbosity)."""
        command = {
            "explain": {"find": self._store.layout.nodes, "filter": node_filter(query, under, node_type)},
            "verbosity": "queryPlanner",
        }
        try:
            return dict(await self._store.database().command(command))
        except OperationFailure as exc:
            raise QueryError(f"the server cannot explain this query: {exc}") from None

    # ------------------------------------------------- many-writer pipelines

    async def append(self, path: str, data: Any, axis: int = 0) -> AppendRegion:
        """Append ``data`` to the array at ``path``; see :func:`mongozarr.append`."""
        node = await self._node(parse_node_path(path))
        if not isinstance(node, AsyncArray):
            raise NotAnArrayError(f"{format_node_path(node.path)!r} is a group; append needs an array")
        return await append_async(node, data, axis)

    async def incomplete_appends(self, path: str) -> list[AppendRegion]:
        """Append regions reserved at ``path`` but never completed; see :func:`mongozarr.incomplete_appends`."""
        return await incomplete_appends_async(self._store, path.strip("/"))

    def lease(
        self, path: str, *, ttl: float | None = None, wait: float | None = 0.0
    ) -> AbstractAsyncContextManager[Lease]:
        """An exclusive, expiring lease on ``path``, for ``async with``; see :func:`mongozarr.lease`."""
        return lease_async(self._store, path.strip("/"), ttl=DEFAULT_TTL if ttl is None else ttl, wait=wait)

    async def link(self, source: str, target: str, relation: str = "labels") -> bool:
        """Register ``source`` as related to ``target`` (atomic); see :func:`mongozarr.link`."""
        return await link_async(self._store, source, target, relation)

    async def backlinks(self, target: str, relation: str | None = None) -> list[Link]:
        """The links that point at ``target``; see :func:`mongozarr.backlinks`."""
        return await backlinks_async(self._store, target, relation)

    def watch(self, under: str | None = None, query: dict[str, Any] | None = None, **kwargs: Any) -> AsyncWatch:
        """Metadata change events below ``under``, for ``async with`` / ``async for``; see :func:`mongozarr.watch`."""
        return watch_async(self._store, under=under, query=query, **kwargs)


def tree_store(target: Any, **store_kwargs: Any) -> MongoStore:
    """The store a Tree opened on ``target`` uses (see :func:`open_tree_async`)."""
    if isinstance(target, MongoStore):
        if store_kwargs:
            raise TypeError("store options apply when opening from a URI or client, not a MongoStore")
        return target
    return MongoStore(target, **store_kwargs)


async def open_tree_async(target: Any, **store_kwargs: Any) -> AsyncTree:
    """Open the hierarchy at a MongoDB URI, client or :class:`~mongozarr.MongoStore` as an :class:`AsyncTree`.

    Parameters
    ----------
    target
        A ``MongoStore``, or what :class:`~mongozarr.MongoStore` accepts (a
        ``mongodb://``/``mongomock://`` URI or a client).
    **store_kwargs
        Passed to :class:`~mongozarr.MongoStore` (``prefix``, ``read_only``, ...).
    """
    return AsyncTree(tree_store(target, **store_kwargs))
