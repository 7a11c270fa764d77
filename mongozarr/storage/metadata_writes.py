"""Writing zarr metadata keys into node documents: merge, or compare-and-set.

zarr rewrites a node's whole ``zarr.json`` from the copy its object holds;
only what that object changed is sent (``$set``/``$unset`` of attribute
keys and metadata fields in one ``findAndModify``), against the view the
object came from (:mod:`mongozarr.storage.views`). A node the store read as
absent is created by inserting its whole document, batched with the other
creations in flight (:mod:`mongozarr.storage.node_inserts`); one created
meanwhile by someone else is merged into instead. With compare-and-set the
write lands only over the version the writer read. Bytes that are not zarr
metadata the node can hold are kept raw.
"""

from __future__ import annotations

import datetime
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from mongozarr.documents import (
    bump_version,
    check_document,
    decode_value,
    encode_value,
    escape_key,
    path_fields,
)
from mongozarr.errors import AmbiguousWriteWarning, ConflictError
from mongozarr.storage.state import StoreState
from mongozarr.storage.views import DELETE, SHAPE, Content, Plan

__all__ = ["MetadataWrites", "node_document"]

# The parts of a node's content each metadata key carries.
_PARTS = {
    "zarr.json": ("metadata", "attributes"),
    ".zarray": ("metadata",),
    ".zgroup": ("metadata",),
    ".zattrs": ("attributes",),
}


class MetadataWrites:
    """The metadata writes of one store.

    Parameters
    ----------
    nodes_name
        The node collection.
    state
        What the store knows: the views writes are merged against.
    compare_and_set
        Write only over the node version the writing object read.
    insert_node
        Inserts a new node document (batched with the others in flight);
        False if its ``_id`` is taken.
    """

    def __init__(
        self,
        nodes_name: str,
        state: StoreState,
        compare_and_set: bool,
        insert_node: Callable[[dict[str, Any]], Awaitable[bool]],
    ) -> None:
        self.nodes_name = nodes_name
        self.state = state
        self.compare_and_set = compare_and_set
        self.insert_node = insert_node

    async def write(self, db: Any, path: str, name: str, content: dict[str, Any]) -> bool:
        """Merge metadata into the node document; False if the node has another format."""
        if name == ".zmetadata":
            return await self.mark_consolidated(db, path)
        fmt, node_type, metadata, attributes = _split_content(name, content)
        full = _checked_document(path, fmt, node_type, metadata, attributes)
        written = Content(fmt, node_type, metadata, attributes)
        views = self.state.views
        plan = views.plan(path, written, _PARTS[name])
        _report_withheld(path, plan)
        created = False
        if self.compare_and_set:
            version = await self._write_expecting(db, path, name, full, plan)
        else:
            created = await self._create(path, full, plan)
            version = 1 if created else await self._write_merging(db, path, name, full, plan)
            if version is None:
                return False
        if name == ".zattrs" and not attributes and not created:
            # An empty .zattrs must exist even where the document had none.
            await db[self.nodes_name].update_one(
                {"_id": path, "zarr_format": 2, "attributes": {"$exists": False}},
                {"$set": {"attributes": {}}},
            )
        views.wrote(path, plan, _held_after(written, name, plan.base), version)
        self.state.wrote(path, node_type)
        return True

    async def _create(self, path: str, full: dict[str, Any], plan: Plan) -> bool:
        """Insert a node this store read as absent, whole; False if not a creation or made meanwhile.

        The document inserted is the one the merge's upsert would create; a
        node created since the read is left to the merge, which keeps its keys.
        """
        if plan.base is not None or path not in self.state.absent:
            return False
        return await self.insert_node(full)

    async def _write_merging(
        self, db: Any, path: str, name: str, full: dict[str, Any], plan: Plan
    ) -> int | None:
        """Send only what the writer changed; the new version, None if another format holds the node."""
        nodes = db[self.nodes_name]
        fmt = full["zarr_format"]
        query: dict[str, Any] = {"_id": path, "zarr_format": fmt}
        if fmt == 3:
            query["node_type"] = full["node_type"]
        if plan.base is not None:
            if not plan.changes:
                return plan.base.version  # a repeat of what the writer saw: nothing to send
            # A resize is compare-and-set against the shape the writer read:
            # an Array object cached before another writer appended must not
            # shrink the array back (mongozarr.append).
            guard = _shape_guard(plan)
            try:
                doc = await nodes.find_one_and_update(
                    {**query, **guard},
                    _merge_update(path, name, full, plan.changes),
                    projection={"version": 1},
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                return await _replace_node(nodes, path, name, full)
            if doc is not None:
                return int(doc["version"])
            if guard:
                try:
                    await _check_shape(nodes, query, path, [encode_value(shape) for shape in plan.resize_from])
                except ConflictError:
                    if plan.otherwise is None:
                        raise
                    return plan.otherwise.version  # the other reading: a repeat, nothing to write
            # The document the writer read is gone: write it whole.
        changes = _blind_changes(full, name)
        shape = _blind_shape(full)
        if shape is not None and path not in self.state.absent:
            await _check_shape(nodes, query, path, [shape])
        try:
            doc = await nodes.find_one_and_update(
                query,
                _merge_update(path, name, full, changes),
                upsert=True,
                projection={"version": 1},
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return await _replace_node(nodes, path, name, full)
        return int(doc["version"])

    async def _write_expecting(
        self, db: Any, path: str, name: str, full: dict[str, Any], plan: Plan
    ) -> int:
        """Compare-and-set: write only over the version the writer read."""
        nodes = db[self.nodes_name]
        base = plan.base
        if base is None or base.version is None:
            try:
                await nodes.insert_one(full)
            except DuplicateKeyError:
                version = await _add_half(nodes, path, name, full)
                if version is None:
                    raise ConflictError(
                        f"node {path!r} already exists and this store has not read it; "
                        "read it first, or write without compare_and_set"
                    ) from None
                return version
            return 1
        if not plan.certain:
            raise ConflictError(
                f"node {path!r}: this write could come from more than one version this store "
                "handed out, so it cannot be compared with one; re-open the node and retry"
            )
        if not plan.changes:
            # A repeat of what the writer read writes nothing, so it overwrites
            # nothing (zarr rewrites a v2 .zgroup with every .zattrs change).
            return base.version
        doc = await nodes.find_one_and_update(
            {"_id": path, "version": base.version},
            _merge_update(path, name, full, plan.changes),
            projection={"version": 1},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            current = await nodes.find_one({"_id": path}, {"version": 1})
            now = "deleted" if current is None else f"at version {current['version']}"
            raise ConflictError(
                f"node {path!r} changed since this store read version {base.version} (now {now})"
            )
        return int(doc["version"])

    async def mark_consolidated(self, db: Any, path: str) -> bool:
        """Record that a v2 group is consolidated; its .zmetadata is then served live."""
        try:
            await db[self.nodes_name].update_one(
                {"_id": path, "zarr_format": 2},
                {
                    "$set": {"consolidated": True},
                    **bump_version(),
                    "$setOnInsert": {**path_fields(path), "node_type": None},
                },
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    async def insert(self, db: Any, path: str, name: str, content: dict[str, Any]) -> bool:
        """Create the metadata only if absent (atomic); False if a raw value must hold it."""
        if name == ".zmetadata":
            return await self.mark_consolidated(db, path)
        fmt, node_type, metadata, attributes = _split_content(name, content)
        full = _checked_document(path, fmt, node_type, metadata, attributes)
        try:
            await db[self.nodes_name].insert_one(full)
        except DuplicateKeyError:
            if fmt == 3:
                return True
            # v2: the node may exist with only some of its keys.
            missing = {"attributes": {"$exists": False}} if name == ".zattrs" else {"node_type": None}
            values = {"attributes": full["attributes"]} if name == ".zattrs" else {
                "node_type": node_type, "metadata": full["metadata"]}
            await db[self.nodes_name].update_one(
                {"_id": path, "zarr_format": 2, **missing},
                {"$set": values, **bump_version()},
            )
        return True

    async def write_raw(self, db: Any, path: str, name: str, data: bytes) -> None:
        """Keep bytes at a metadata key as they are, in the node document."""
        field = f"raw.{escape_key(name)}"
        check_document({"_id": path, "raw": {escape_key(name): data}}, f"node {path!r}")
        await db[self.nodes_name].update_one(
            {"_id": path},
            {
                "$set": {field: data},
                **bump_version(),
                "$setOnInsert": {**path_fields(path), "node_type": None, "zarr_format": None},
            },
            upsert=True,
        )

    async def drop(self, db: Any, path: str, name: str) -> None:
        """Remove metadata ``name`` (structured or raw) from the node document at ``path``."""
        nodes = db[self.nodes_name]
        self.state.forget(path)
        raw_field = f"raw.{escape_key(name)}"
        query, update = _drop_update(path, name, raw_field)
        matched = (await nodes.update_one(query, update)).matched_count
        if not matched:
            # Only raw bytes, if anything, at this name.
            matched = (
                await nodes.update_one({"_id": path, raw_field: {"$exists": True}}, {"$unset": {raw_field: ""}})
            ).matched_count
        if matched:
            # A document left holding no metadata at all is removed.
            await nodes.delete_one(
                {
                    "_id": path,
                    "node_type": None,
                    "attributes": {"$exists": False},
                    "consolidated": {"$exists": False},
                    "$or": [{"raw": {"$exists": False}}, {"raw": {}}],
                }
            )


def _drop_update(path: str, name: str, raw_field: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (filter, update) that removes structured metadata ``name`` from a node document."""
    if name == "zarr.json":
        query: dict[str, Any] = {"_id": path, "zarr_format": 3}
        update: dict[str, Any] = {
            "$set": {"node_type": None, "zarr_format": None},
            "$unset": {"metadata": "", "attributes": "", raw_field: ""},
        }
    elif name == ".zattrs":
        query = {"_id": path, "zarr_format": 2}
        update = {"$unset": {"attributes": "", raw_field: ""}}
    elif name == ".zmetadata":
        query = {"_id": path, "zarr_format": 2}
        update = {"$unset": {"consolidated": "", raw_field: ""}}
    else:
        node_type = "array" if name == ".zarray" else "group"
        query = {"_id": path, "zarr_format": 2, "node_type": node_type}
        update = {"$set": {"node_type": None}, "$unset": {"metadata": "", raw_field: ""}}
    update.update(bump_version())
    return query, update


async def _replace_node(nodes: Any, path: str, name: str, full: dict[str, Any]) -> int | None:
    """Another kind of node holds ``path``: replace it if it has our format or only raw bytes.

    Returns the new version, or None when a node of the other zarr format
    is there (the caller then keeps the bytes raw).
    """
    existing = await nodes.find_one({"_id": path}, {"zarr_format": 1, "raw": 1})
    if existing is None:
        await nodes.insert_one(full)
        return 1
    if existing.get("zarr_format") not in (full["zarr_format"], None):
        return None
    raw = {k: v for k, v in (existing.get("raw") or {}).items() if k != escape_key(name)}
    result = await nodes.replace_one(
        {"_id": path, "zarr_format": existing.get("zarr_format")}, {**full, **({"raw": raw} if raw else {})}
    )
    return 1 if result.matched_count else None


async def _add_half(nodes: Any, path: str, name: str, full: dict[str, Any]) -> int | None:
    """Write one v2 key over a node that holds nothing of what the key carries; its new version, or None.

    zarr creates a v2 node by writing ``.zarray`` (``.zgroup``) and ``.zattrs``
    at once, so one insert finds the other's document. Nothing in it is
    overwritten when the part this key carries is not there yet.
    """
    if full["zarr_format"] != 2:
        return None
    part = "attributes" if name == ".zattrs" else "metadata"
    doc = await nodes.find_one_and_update(
        {"_id": path, "zarr_format": 2, part: {"$exists": False}},
        _merge_update(path, name, full, _blind_changes(full, name)),
        projection={"version": 1},
        return_document=ReturnDocument.AFTER,
    )
    return None if doc is None else int(doc["version"])


def _report_withheld(path: str, plan: Plan) -> None:
    """Warn about the changes of an ambiguous write that were not made."""
    if not plan.withheld:
        return
    withheld = ", ".join(f"{part} {'(whole)' if key is None else repr(key)}" for part, key in plan.withheld)
    message = (
        f"node {path!r}: this metadata write could come from more than one version "
        f"that zarr objects of this store hold, and they disagree on: {withheld}. "
        "Those changes were not made, so no other writer's change is undone; the "
        "rest was merged. Repeat them through an object opened on store.sibling(), "
        "or with mongozarr.Tree"
    )
    warnings.warn(AmbiguousWriteWarning(message, path, tuple(plan.withheld)), stacklevel=4)


def _shape_guard(plan: Plan) -> dict[str, Any]:
    """The filter that makes a resize compare-and-set against the shapes the writer may have read."""
    if SHAPE not in plan.changes:
        return {}
    shapes = [encode_value(shape) for shape in plan.resize_from]
    if len(shapes) == 1:
        return {"metadata.shape": shapes[0]}
    # Whole-array equality per shape ($in with array values is not portable).
    return {"$or": [{"metadata.shape": shape} for shape in shapes]}


def _blind_shape(full: dict[str, Any]) -> list[Any] | None:
    """The shape a write from an object this store knows nothing about assumes is stored."""
    if full.get("node_type") != "array":
        return None
    return (full.get("metadata") or {}).get("shape")


def _blind_changes(full: dict[str, Any], name: str) -> dict[tuple[str, str | None], Any]:
    """A write with no known base: its metadata whole, its attributes key by key, nothing removed."""
    changes: dict[tuple[str, str | None], Any] = {}
    if name != ".zattrs" and "metadata" in full:
        changes[("metadata", None)] = decode_value(full["metadata"])
    if name in ("zarr.json", ".zattrs"):
        for key, value in decode_value(full.get("attributes") or {}).items():
            changes[("attributes", key)] = value
    return changes


async def _check_shape(nodes: Any, query: dict[str, Any], path: str, shapes: list[Any]) -> None:
    """Raise ConflictError if the array at ``path`` is stored with none of ``shapes`` (those the writer may have read)."""
    doc = await nodes.find_one({**query, "node_type": "array"}, {"metadata.shape": 1})
    stored = None if doc is None else (doc.get("metadata") or {}).get("shape")
    if doc is not None and stored not in shapes:
        read = " or ".join(str(tuple(shape)) for shape in shapes)
        raise ConflictError(
            f"array {path!r} now has shape {tuple(stored or ())}, not {read} as this "
            "writer read it (another writer appended or resized it): re-open the array and retry"
        )


def _split_content(
    name: str, content: dict[str, Any]
) -> tuple[int, str | None, dict[str, Any] | None, dict[str, Any] | None]:
    """(format, node_type, metadata, attributes) of one metadata object."""
    if name == "zarr.json":
        metadata = {k: v for k, v in content.items() if k not in ("zarr_format", "node_type", "attributes")}
        consolidated = metadata.get("consolidated_metadata")
        if isinstance(consolidated, dict):
            # Keep only the request to consolidate; the entries are served live.
            metadata["consolidated_metadata"] = {k: v for k, v in consolidated.items() if k != "metadata"}
        return 3, content["node_type"], metadata, content.get("attributes")
    if name == ".zattrs":
        return 2, None, None, content
    metadata = {k: v for k, v in content.items() if k != "zarr_format"}
    return 2, "array" if name == ".zarray" else "group", metadata, None


def node_document(
    path: str,
    fmt: int,
    node_type: str | None,
    metadata: dict[str, Any] | None,
    attributes: dict[str, Any] | None,
) -> dict[str, Any]:
    """The whole node document a first write of this content creates (version 1).

    Parameters
    ----------
    path
        The node path (``""`` is the root).
    fmt
        The zarr format, 2 or 3.
    node_type
        ``"group"``, ``"array"``, or None (a v2 node with only attributes).
    metadata, attributes
        The JSON content, encoded here for MongoDB; None leaves the field out.
    """
    doc: dict[str, Any] = {"_id": path, **path_fields(path), "node_type": node_type, "zarr_format": fmt}
    if metadata is not None:
        doc["metadata"] = encode_value(metadata)
    if attributes is not None:
        doc["attributes"] = encode_value(attributes)
    doc["version"] = 1
    doc["updated_at"] = datetime.datetime.now(datetime.UTC)
    return doc


def _checked_document(
    path: str,
    fmt: int,
    node_type: str | None,
    metadata: dict[str, Any] | None,
    attributes: dict[str, Any] | None,
) -> dict[str, Any]:
    """The whole node document, checked against MongoDB's limits before any write."""
    doc = node_document(path, fmt, node_type, metadata, attributes)
    check_document(doc, f"node {path!r}")
    return doc


def _merge_update(
    path: str, name: str, full: dict[str, Any], changes: dict[tuple[str, str | None], Any]
) -> dict[str, Any]:
    """The update that applies ``changes`` to the node document at ``path``."""
    sets: dict[str, Any] = {}
    unsets: dict[str, str] = {}
    on_insert: dict[str, Any] = path_fields(path)
    if name == ".zattrs":
        on_insert["node_type"] = None
    else:
        sets["node_type"] = full["node_type"]
    for (part, key), value in changes.items():
        if part == "node_type":
            continue  # set above, with every metadata write
        field = part if key is None else f"{part}.{escape_key(key)}"
        if value is DELETE:
            unsets[field] = ""
        else:
            sets[field] = encode_value(value, part if key is None else key)
    if name in ("zarr.json", ".zattrs") and "attributes" in full and not any(
        part == "attributes" for part, _ in changes
    ):
        on_insert["attributes"] = {}
    update: dict[str, Any] = bump_version()
    if sets:
        update["$set"] = sets
    if unsets:
        update["$unset"] = unsets
    update["$setOnInsert"] = on_insert
    return update


def _held_after(written: Content, name: str, base: Any) -> Content:
    """What the writer holds after writing ``written`` (v2 writes carry one part)."""
    if name == ".zattrs":
        kept = None if base is None else base.content
        node_type = kept.node_type if kept is not None else None
        return Content(2, node_type, kept.metadata if kept is not None else None, written.attributes)
    if name in (".zarray", ".zgroup"):
        kept_attributes = None if base is None else base.content.attributes
        return Content(2, written.node_type, written.metadata, kept_attributes)
    return written
