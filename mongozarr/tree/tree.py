"""The Tree: zpath access, atomic attribute updates and queries over a MongoStore.

Every method is one MongoDB command on the node documents (plus a second
read only to explain a failure), run on zarr's event loop with
:func:`zarr.core.sync.sync`, so a Tree can share its store with plain zarr
objects. Nodes returned by :meth:`Tree.find` and ``tree["/path"]`` are zarr
Groups and Arrays built from the documents already read: no further reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import zarr
from pymongo import ReturnDocument
from pymongo.errors import OperationFailure
from zarr.core.sync import sync
from zarr.storage import StorePath

from mongozarr.documents import bump_version, decode_value, escape_key, render_metadata
from mongozarr.layout import prefix_regex
from mongozarr.storage.store import MongoStore
from mongozarr.errors import AttributeNotFoundError, ConflictError, DocumentTooLargeError, NodeNotFoundError, QueryError
from mongozarr.tree.query import (
    attribute_field,
    check_update_size,
    query_field,
    to_mongo_filter,
    to_mongo_update,
)
from mongozarr.tree.zpath import format_attribute_path, format_node_path, parse_node_path, parse_zpath

__all__ = ["Tree", "node_from_document", "open_tree"]

# One find answers up to this many nodes in one round trip (a real MongoDB
# also caps each reply at 16 MiB). Bounded because the mongoeco test server
# does not cap a reply's size by itself.
_FIND_BATCH = 25_000
# MongoDB's codes for an update whose result would exceed 16 MiB.
_TOO_LARGE_CODES = frozenset({10334, 17419, 17420})
Node = zarr.Array | zarr.Group


def node_from_document(store: MongoStore, document: dict[str, Any]) -> Node | None:
    """The zarr Group or Array a node document describes, without reading more.

    Returns ``None`` for a document that holds no node (a zarr v2 ``.zattrs``
    alone). The store remembers the document as the base of its key-by-key
    merge, as if zarr had read it.
    """
    node_type = document.get("node_type")
    if node_type not in ("group", "array"):
        return None
    if document.get("zarr_format") == 3:
        data = json.loads(render_metadata(document, "zarr.json") or b"{}")
    else:
        data = json.loads(render_metadata(document, ".zarray" if node_type == "array" else ".zgroup") or b"{}")
        data["attributes"] = decode_value(document.get("attributes") or {})
    store.note_view(document)
    store_path = StorePath(store, document["_id"])
    if node_type == "array":
        return zarr.Array(zarr.AsyncArray.from_dict(store_path, data))
    return zarr.Group(zarr.AsyncGroup.from_dict(store_path, data))


def _walk(value: Any, keys: tuple[str, ...], zpath: str) -> Any:
    for depth, key in enumerate(keys):
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            raise AttributeNotFoundError(f"{zpath}: no attribute at {'/'.join(keys[: depth + 1])!r}")
    return value


def _and(*filters: dict[str, Any]) -> dict[str, Any]:
    """Combine filters; a plain merge keeps simple queries simple for the planner."""
    merged: dict[str, Any] = {}
    rest: list[dict[str, Any]] = []
    for item in filters:
        if any(key in merged for key in item):
            rest.append(item)
        else:
            merged.update(item)
    return {"$and": [merged, *rest]} if rest else merged


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
        return f"Tree({self._store!r})"

    def _nodes(self) -> Any:
        # Called inside a coroutine: one client per event loop.
        return self._store.database()[self._store.nodes_collection_name]

    # ---------------------------------------------------------------- zpaths

    def __getitem__(self, zpath: str) -> Any:
        parsed = parse_zpath(zpath)
        if parsed.attribute is None:
            return self._node(parsed.node)
        return sync(self._get_attribute(parsed.node, parsed.attribute, zpath))

    def get(self, zpath: str, default: Any = None) -> Any:
        """``tree[zpath]``, or ``default`` if the node or attribute is missing."""
        try:
            return self[zpath]
        except KeyError:
            return default

    def __contains__(self, zpath: object) -> bool:
        if not isinstance(zpath, str):
            return False
        parsed = parse_zpath(zpath)
        query: dict[str, Any] = {"_id": parsed.node, "node_type": {"$in": ["group", "array"]}}
        if parsed.attribute is not None:
            query[attribute_field(parsed.attribute)] = {"$exists": True}
        return sync(self._exists(query))

    def __setitem__(self, zpath: str, value: Any) -> None:
        parsed = parse_zpath(zpath)
        if parsed.attribute is None:
            raise TypeError(
                f"{zpath!r} names a node; assign an attribute ('{zpath}@key'), "
                "and create groups and arrays with zarr"
            )
        self._update(parsed.node, {"$set": {format_attribute_path(parsed.attribute): value}}, False, None, zpath)

    def __delitem__(self, zpath: str) -> None:
        parsed = parse_zpath(zpath)
        if parsed.attribute is None:
            raise TypeError(f"{zpath!r} names a node; delete nodes with zarr, attributes with '@'")
        self._store.check_writable()
        field = attribute_field(parsed.attribute)
        update = {"$unset": {field: ""}, **bump_version()}
        sync(self._write(parsed.node, {field: {"$exists": True}}, update, {"_id": 1}, None, zpath))

    def attributes(self, path: str) -> dict[str, Any]:
        """All attributes of the node at ``path``, in one read."""
        node = parse_node_path(path)
        doc = sync(self._find_one(node, {"attributes": 1}))
        return decode_value(doc.get("attributes") or {})

    def version(self, path: str) -> int:
        """The node document's version (bumped by every write), for ``expected_version``."""
        doc = sync(self._find_one(parse_node_path(path), {"version": 1}))
        return int(doc.get("version", 0))

    def info(self, path: str) -> dict[str, Any]:
        """A summary of the node at ``path``: kind, format, shape, attributes, version."""
        doc = sync(self._find_one(parse_node_path(path), None))
        metadata = decode_value(doc.get("metadata") or {})
        out: dict[str, Any] = {
            "path": format_node_path(doc["_id"]),
            "node_type": doc.get("node_type"),
            "zarr_format": doc.get("zarr_format"),
        }
        if doc.get("node_type") == "array":
            out["shape"] = metadata.get("shape")
            out["data_type"] = metadata.get("data_type", metadata.get("dtype"))
            grid = metadata.get("chunk_grid") or {}
            out["chunks"] = (grid.get("configuration") or {}).get("chunk_shape", metadata.get("chunks"))
        out["attributes"] = decode_value(doc.get("attributes") or {})
        out["version"] = doc.get("version")
        updated = doc.get("updated_at")
        out["updated_at"] = updated.isoformat() if updated is not None else None
        return out

    def _node(self, path: str) -> Node:
        doc = sync(self._find_one(path, None))
        node = node_from_document(self._node_store, doc)
        if node is None:
            raise NodeNotFoundError(f"no group or array at {format_node_path(path)!r}")
        return node

    async def _find_one(self, path: str, projection: dict[str, Any] | None) -> dict[str, Any]:
        doc = await self._nodes().find_one({"_id": path}, projection)
        if doc is None:
            raise NodeNotFoundError(f"no group or array at {format_node_path(path)!r}")
        return doc

    async def _exists(self, query: dict[str, Any]) -> bool:
        return await self._nodes().find_one(query, {"_id": 1}) is not None

    async def _get_attribute(self, path: str, keys: tuple[str, ...], zpath: str) -> Any:
        # Project the outermost key only: a dotted projection cannot index lists.
        doc = await self._find_one(path, {"attributes." + escape_key(keys[0]): 1})
        return _walk(decode_value(doc.get("attributes") or {}), keys, zpath)

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
        return self._update(parse_node_path(path), ops, return_attributes, expected_version, path)

    def _update(
        self,
        node: str,
        ops: dict[str, Any],
        return_attributes: bool,
        expected_version: int | None,
        what: str,
    ) -> dict[str, Any] | None:
        self._store.check_writable()
        update = to_mongo_update(ops)
        check_update_size(update, what)
        stamp = bump_version()
        update.setdefault("$inc", {}).update(stamp["$inc"])
        update["$currentDate"] = stamp["$currentDate"]
        projection = {"attributes": 1, "version": 1} if return_attributes else {"version": 1}
        doc = sync(self._write(node, {}, update, projection, expected_version, what))
        return decode_value(doc.get("attributes") or {}) if return_attributes else None

    async def _write(
        self,
        path: str,
        condition: dict[str, Any],
        update: dict[str, Any],
        projection: dict[str, Any],
        expected_version: int | None,
        what: str,
    ) -> dict[str, Any]:
        nodes = self._nodes()
        query = {"_id": path, **condition}
        if expected_version is not None:
            query["version"] = expected_version
        try:
            doc = await nodes.find_one_and_update(
                query, update, projection=projection, return_document=ReturnDocument.AFTER
            )
        except OperationFailure as exc:
            if exc.code in _TOO_LARGE_CODES:
                raise DocumentTooLargeError(
                    f"{what}: the node document would exceed MongoDB's 16 MiB limit: {exc}"
                ) from None
            raise QueryError(f"{what}: MongoDB refused the update: {exc}") from None
        if doc is not None:
            return doc
        # Only the failure path reads again, to say which condition failed.
        current = await nodes.find_one({"_id": path}, {"version": 1})
        if current is None:
            raise NodeNotFoundError(
                f"no group or array at {format_node_path(path)!r}; create nodes with zarr first"
            )
        if expected_version is not None and current.get("version") != expected_version:
            raise ConflictError(
                f"node {format_node_path(path)!r} is at version {current.get('version')}, "
                f"not the expected {expected_version}"
            )
        raise AttributeNotFoundError(f"{what}: no such attribute")

    # --------------------------------------------------------------- queries

    def _filter(self, query: dict[str, Any] | None, under: str | None, node_type: str | None) -> dict[str, Any]:
        parts = [to_mongo_filter(query)]
        if under is not None:
            base = parse_node_path(under)
            parts.append({"_id": prefix_regex(base + "/") if base else {"$ne": ""}})
        if node_type is not None:
            if node_type not in ("group", "array"):
                raise QueryError(f"node_type must be 'group' or 'array', got {node_type!r}")
            parts.append({"node_type": node_type})
        return _and(*parts)

    def find(
        self,
        query: dict[str, Any] | None = None,
        *,
        under: str | None = None,
        node_type: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Node]:
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
        Iterator of zarr.Group and zarr.Array
            Built from the documents of one ``find`` command (one round trip
            up to 25,000 nodes), without reading their metadata again.
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise QueryError(f"limit must be a non-negative integer, got {limit!r}")
        documents = sync(self._find_documents(self._filter(query, under, node_type), limit))
        return (node for node in (node_from_document(self._node_store, d) for d in documents) if node is not None)

    async def _find_documents(self, mongo_filter: dict[str, Any], limit: int | None) -> list[dict[str, Any]]:
        if limit == 0:
            return []
        cursor = self._nodes().find(mongo_filter, batch_size=_FIND_BATCH)
        if limit is not None:
            # Sorting on the server makes the limit pick the first paths.
            return await cursor.sort("_id", 1).limit(limit).to_list()
        documents = await cursor.to_list()
        documents.sort(key=lambda d: d["_id"])
        return documents

    def count(
        self, query: dict[str, Any] | None = None, *, under: str | None = None, node_type: str | None = None
    ) -> int:
        """How many nodes :meth:`find` would return (one ``count`` on the server)."""
        mongo_filter = self._filter(query, under, node_type)
        return sync(self._count(mongo_filter))

    async def _count(self, mongo_filter: dict[str, Any]) -> int:
        return int(await self._nodes().count_documents(mongo_filter))

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
        field, is_path = query_field(key)
        # Nodes without the field contribute nothing (the mongoeco server
        # would otherwise report a None for them).
        mongo_filter = _and(self._filter(query, under, node_type), {field: {"$exists": True}})
        values = sync(self._distinct(field, mongo_filter))
        if is_path:
            return [format_node_path(v) if isinstance(v, str) else v for v in values]
        return [decode_value(v) for v in values]

    async def _distinct(self, field: str, mongo_filter: dict[str, Any]) -> list[Any]:
        return list(await self._nodes().distinct(field, mongo_filter))

    def create_index(self, *keys: str, name: str | None = None) -> str:
        """Index attribute paths (or structural fields) that queries filter on.

        Several keys make one compound index, in order. Returns the index name.
        """
        if not keys:
            raise QueryError("create_index needs at least one attribute path")
        spec = [(query_field(key)[0], 1) for key in keys]
        kwargs = {"name": name} if name else {}
        return sync(self._create_index(spec, kwargs))

    async def _create_index(self, spec: list[tuple[str, int]], kwargs: dict[str, Any]) -> str:
        return str(await self._nodes().create_index(spec, **kwargs))

    def explain(
        self, query: dict[str, Any] | None = None, *, under: str | None = None, node_type: str | None = None
    ) -> dict[str, Any]:
        """The server's query plan for :meth:`find` (``explain``, queryPlanner verbosity)."""
        mongo_filter = self._filter(query, under, node_type)
        return sync(self._explain(mongo_filter))

    async def _explain(self, mongo_filter: dict[str, Any]) -> dict[str, Any]:
        command = {"explain": {"find": self._store.nodes_collection_name, "filter": mongo_filter},
                   "verbosity": "queryPlanner"}
        try:
            return dict(await self._store.database().command(command))
        except OperationFailure as exc:
            raise QueryError(f"the server cannot explain this query: {exc}") from None


    # ------------------------------------------------- many-writer pipelines

    def append(self, path: str, data: Any, axis: int = 0) -> Any:
        """Append ``data`` to the array at ``path``; see :func:`mongozarr.append`."""
        from mongozarr.coordination.append import append

        return append(self[path], data, axis=axis)

    def incomplete_appends(self, path: str) -> list[Any]:
        """Append regions reserved at ``path`` but never completed; see :func:`mongozarr.incomplete_appends`."""
        from mongozarr.coordination.append import incomplete_appends

        return incomplete_appends(self._store, _node_path(path))

    def lease(self, path: str, *, ttl: float | None = None, wait: float | None = 0.0) -> Any:
        """An exclusive, expiring lease on ``path`` (a context manager); see :func:`mongozarr.lease`."""
        from mongozarr.coordination.lease import DEFAULT_TTL, lease

        return lease(self._store, _node_path(path), ttl=DEFAULT_TTL if ttl is None else ttl, wait=wait)

    def link(self, source: str, target: str, relation: str = "labels") -> bool:
        """Register ``source`` as related to ``target`` (atomic); see :func:`mongozarr.link`."""
        from mongozarr.coordination.links import link

        return link(self._store, source, target, relation)

    def backlinks(self, target: str, relation: str | None = None) -> list[Any]:
        """The links that point at ``target``; see :func:`mongozarr.backlinks`."""
        from mongozarr.coordination.links import backlinks

        return backlinks(self._store, target, relation)

    def watch(self, under: str | None = None, query: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Metadata change events below ``under``; see :func:`mongozarr.watch`."""
        from mongozarr.coordination.watch import watch

        return watch(self._store, under=under, query=query, **kwargs)


def _node_path(path: str) -> str:
    return path.strip("/")


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
    if isinstance(target, MongoStore):
        if store_kwargs:
            raise TypeError("store options apply when opening from a URI or client, not a MongoStore")
        return Tree(target)
    return Tree(MongoStore(target, **store_kwargs))

