"""What the Tree makes of node documents: zarr nodes, attribute values, summaries.

Pure apart from telling the store which node document a zarr object was
built from (:meth:`~mongozarr.MongoStore.note_view`): no reads, no writes.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import zarr
from zarr import AsyncArray, AsyncGroup
from zarr.storage import StorePath

from mongozarr.documents import decode_value, node_problem, render_metadata
from mongozarr.errors import AttributeNotFoundError, InvalidMetadataError, MalformedNodeWarning
from mongozarr.storage.store import MongoStore
from mongozarr.zpath import format_node_path

__all__ = [
    "AsyncNode",
    "Node",
    "attribute_at",
    "node_from_document",
    "node_info",
    "nodes_from_documents",
    "sync_node",
]

#: A group or array of zarr's async API, as :class:`~mongozarr.tree.AsyncTree` returns them.
AsyncNode = AsyncArray[Any] | AsyncGroup
#: A group or array of zarr's sync API, as :class:`~mongozarr.Tree` returns them.
Node = zarr.Array | zarr.Group


def node_from_document(store: MongoStore, document: dict[str, Any]) -> AsyncNode | None:
    """The zarr ``AsyncGroup`` or ``AsyncArray`` a node document describes, without reading more.

    Returns ``None`` for a document that holds no node (a zarr v2 ``.zattrs``
    alone). The store remembers the document as the base of its key-by-key
    merge, as if zarr had read it.

    Raises
    ------
    InvalidMetadataError
        The document cannot be read as a zarr node (a hand edit or a crash left it so).
    """
    problem = node_problem(document)
    if problem is not None:
        raise InvalidMetadataError(f"node {format_node_path(str(document.get('_id')))!r}: {problem}")
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
        return AsyncArray.from_dict(store_path, data)
    return AsyncGroup.from_dict(store_path, data)


def nodes_from_documents(store: MongoStore, documents: list[dict[str, Any]]) -> list[AsyncNode]:
    """The nodes of many documents; one that zarr cannot read is skipped with a warning.

    Whole-tree answers stay available when one document is malformed: the
    warning (:class:`~mongozarr.errors.MalformedNodeWarning`) names it.
    """
    nodes = []
    for document in documents:
        try:
            node = node_from_document(store, document)
        except InvalidMetadataError as exc:
            path = str(document.get("_id"))
            warnings.warn(MalformedNodeWarning(f"skipped {exc}", path, str(exc)), stacklevel=3)
            continue
        if node is not None:
            nodes.append(node)
    return nodes


def sync_node(value: Any) -> Any:
    """zarr's sync ``Group``/``Array`` around an async node; any other value as it is."""
    if isinstance(value, AsyncArray):
        return zarr.Array(value)
    if isinstance(value, AsyncGroup):
        return zarr.Group(value)
    return value


def attribute_at(attributes: Any, keys: tuple[str, ...], zpath: str) -> Any:
    """The value at attribute ``keys`` (a key into a list is its index).

    Raises
    ------
    AttributeNotFoundError
        Naming the first key that is missing.
    """
    value = attributes
    for depth, key in enumerate(keys):
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            raise AttributeNotFoundError(f"{zpath}: no attribute at {'/'.join(keys[: depth + 1])!r}")
    return value


def _codec_names(metadata: dict[str, Any]) -> list[str]:
    """The codec chain: v3 ``codecs`` (a sharding codec with its inner chain), v2 filters + compressor."""
    names = []
    for codec in metadata.get("codecs") or []:
        name = codec.get("name") if isinstance(codec, dict) else str(codec)
        inner = ((codec.get("configuration") or {}).get("codecs") if isinstance(codec, dict) else None) or []
        names.append(f"{name}[{', '.join(_codec_names({'codecs': inner}))}]" if inner else str(name))
    for codec in [*(metadata.get("filters") or []), metadata.get("compressor")]:
        if isinstance(codec, dict):
            names.append(str(codec.get("id")))
    return names


def node_info(document: dict[str, Any]) -> dict[str, Any]:
    """A summary of a node document: kind, format, shape, attributes, version."""
    metadata = decode_value(document.get("metadata") or {})
    out: dict[str, Any] = {
        "path": format_node_path(document["_id"]),
        "node_type": document.get("node_type"),
        "zarr_format": document.get("zarr_format"),
    }
    if document.get("node_type") == "array":
        out["shape"] = metadata.get("shape")
        out["data_type"] = metadata.get("data_type", metadata.get("dtype"))
        grid = metadata.get("chunk_grid") or {}
        out["chunks"] = (grid.get("configuration") or {}).get("chunk_shape", metadata.get("chunks"))
        out["fill_value"] = metadata.get("fill_value")
        out["codecs"] = _codec_names(metadata)
    out["attributes"] = decode_value(document.get("attributes") or {})
    out["version"] = document.get("version")
    updated = document.get("updated_at")
    out["updated_at"] = updated.isoformat() if updated is not None else None
    return out
