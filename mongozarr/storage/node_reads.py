"""Reading node documents for metadata keys, and recording the views zarr builds from them.

zarr reads ``zarr.json`` (``.zarray``, ...) of many nodes at once; the reads of
one event-loop turn are served by one ``find({_id: {$in: ...}})``
(:class:`~mongozarr.storage.batching.Coalescer`). Each read that builds a
zarr object makes the node's content a view that object holds, a merge base
for its later writes (:mod:`mongozarr.storage.views`); reads that build
nothing (type probes, ancestor checks) are not counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mongozarr.documents import (
    consolidated_entries,
    decode_value,
    is_consolidated,
    metadata_content,
    metadata_names,
    raw_metadata,
)
from mongozarr.layout import dir_prefixes, in_batches, strictly_below
from mongozarr.storage.batching import Coalescer
from mongozarr.storage.creation_checks import held_ancestor, hold_ancestors
from mongozarr.storage.state import StoreState
from mongozarr.storage.views import Content, Views

__all__ = ["NAMES_PROJECTION", "Handout", "NodeReads", "Read", "content_of", "handouts"]

# Enough of a node document to tell which metadata keys it holds (the
# attributes themselves are fetched separately where needed).
NAMES_PROJECTION = {"zarr_format": 1, "node_type": 1, "consolidated": 1, "raw": 1}
# The metadata key zarr reads to build an object of each (format, node type).
_PRIMARY_NAME = {(3, "group"): "zarr.json", (3, "array"): "zarr.json", (2, "group"): ".zgroup", (2, "array"): ".zarray"}


@dataclass(frozen=True)
class Read:
    """One read of node metadata that hands a view out: which store asked, for which key."""

    views: Views
    name: str


class Handout:
    """A node document read in one batch, with the objects it builds per store.

    ``tokens`` counts, per store's views, the objects zarr builds from this
    read; each consolidated read of a group takes one to record the members'
    views once per group object.
    """

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.tokens: dict[int, int] = {}

    def take(self, views: Views) -> bool:
        """Take one object's token; False if none is left for these views."""
        left = self.tokens.get(id(views), 0)
        if left <= 0:
            return False
        self.tokens[id(views)] = left - 1
        return True


def content_of(document: dict[str, Any]) -> Content | None:
    """A node document's content as a view, or None if it holds no zarr node."""
    fmt, node_type = document.get("zarr_format"), document.get("node_type")
    if fmt not in (2, 3) or (fmt == 3 and node_type is None):
        return None
    metadata, attributes = document.get("metadata"), document.get("attributes")
    return Content(
        fmt,
        node_type,
        None if metadata is None else decode_value(metadata),
        None if attributes is None else decode_value(attributes),
    )


def _holders(doc: dict[str, Any], names: list[str]) -> int:
    """How many zarr objects the reads of ``names`` in one batch build from ``doc``.

    zarr builds one per read of the node's own key (``zarr.json``, ``.zarray``
    or ``.zgroup``). ``zarr.open`` first tries the other node type: a v3
    group asked for ``.zarray`` (a v3 array for ``.zgroup``) in the same
    batch is that probe, which builds nothing.
    """
    fmt, node_type = doc.get("zarr_format"), doc.get("node_type")
    count = names.count(_PRIMARY_NAME.get((fmt, node_type), ""))
    if fmt == 3:
        count -= names.count(".zarray" if node_type == "group" else ".zgroup")
    return max(count, 0)


class Absent:
    """A node read that found nothing, with its ancestors' documents as they were then (None: absent)."""

    def __init__(self, ancestors: dict[str, dict[str, Any] | None]) -> None:
        self.ancestors = ancestors


def _ancestors(path: str) -> list[str]:
    return [directory for directory in dir_prefixes(path) if directory != path]


async def fetch_nodes(nodes: Any, requests: dict[str, list[Read | None]]) -> dict[str, Handout | Absent]:
    """Read the node documents of one batch, and record the views zarr builds objects from.

    The ancestors of every requested node come in the same query: when a node
    is absent (about to be created), they answer zarr's next reads, its check
    that no ancestor is an array (see :mod:`~mongozarr.storage.creation_checks`).
    """
    ids = list(dict.fromkeys([*requests, *(a for path in requests for a in _ancestors(path))]))
    docs = [
        doc for batch in in_batches(ids) for doc in await nodes.find({"_id": {"$in": list(batch)}}).to_list()
    ]
    by_id = {doc["_id"]: doc for doc in docs}
    found: dict[str, Handout | Absent] = dict(handouts([doc for doc in docs if doc["_id"] in requests], requests))
    for path in requests:
        if path not in found:
            found[path] = Absent({a: by_id.get(a) for a in _ancestors(path)})
    return found


def handouts(docs: list[dict[str, Any]], requests: dict[str, list[Read | None]]) -> dict[str, Handout]:
    """The handouts of node documents read for ``requests``, each read's views recorded."""
    found = {doc["_id"]: Handout(doc) for doc in docs}
    # zarr reads a node it is about to create together with all its
    # ancestors, to check that none is an array: those reads build no object.
    checked = {ancestor for path in requests if path not in found for ancestor in dir_prefixes(path)}
    for path, handout in found.items():
        if path in checked:
            continue
        reads: dict[int, tuple[Views, list[str]]] = {}
        for read in requests[path]:
            if read is not None:
                reads.setdefault(id(read.views), (read.views, []))[1].append(read.name)
        for views, names in reads.values():
            holders = _holders(handout.doc, names)
            content = content_of(handout.doc) if holders else None
            if content is not None:
                views.served(path, content, handout.doc.get("version"), holders)
                handout.tokens[id(views)] = holders
    return found


class NodeReads:
    """The metadata reads of one store.

    Parameters
    ----------
    nodes_name
        The node collection.
    state
        What the store knows; reads record views, arrays, absent nodes.
    consolidated
        Serve every group with consolidated metadata built live.
    inline_threshold
        The store's inline threshold (bounds its chunk size estimate).
    """

    def __init__(self, nodes_name: str, state: StoreState, consolidated: bool, inline_threshold: int) -> None:
        self.nodes_name = nodes_name
        self.state = state
        self.consolidated = consolidated
        self.inline_threshold = inline_threshold

    async def read(
        self, db: Any, batch: Coalescer[str], path: str, name: str, *, hand_out: bool = False
    ) -> bytes | None:
        """The bytes of metadata ``name`` of node ``path``.

        ``hand_out``: a zarr object is built from them (``get``, not ``getsize``),
        so the node's content becomes a view that object holds.
        """
        views = self.state.views
        request = Read(views, name) if hand_out else None
        handout = self._from_walk(path, name, request)
        if handout is None:
            held, held_doc = held_ancestor(path, name)
            if held:
                handout = None if held_doc is None else handouts([held_doc], {path: [request]})[path]
            else:
                handout = await self._fetch(batch, path, request)
        if handout is None:
            self.state.absent.add(path)
            return None
        doc = handout.doc
        self.state.absent.discard(path)
        self.state.learn(doc, self.inline_threshold)
        raw = raw_metadata(doc, name)
        if raw is not None:
            return raw
        content = metadata_content(doc, name)
        is_group = doc.get("node_type") == "group"
        if content is None and name == ".zmetadata" and self.consolidated and is_group and doc["zarr_format"] == 2:
            content = {"zarr_consolidated_format": 1, "metadata": {}}
        if content is None:
            return None
        if name == ".zmetadata" or (
            name == "zarr.json" and is_group and (self.consolidated or is_consolidated(doc))
        ):
            # Consolidated metadata is never stored: it is built from the live
            # documents of the subtree, so it cannot go stale.
            descendants = await db[self.nodes_name].find(strictly_below(path)).to_list()
            if hand_out and handout.take(views):
                # zarr builds the members from these entries without reading
                # them, every member object of one group sharing its entry.
                for descendant in descendants:
                    self.note_view(descendant)
            entries = consolidated_entries(path, descendants, doc["zarr_format"])
            if name == ".zmetadata":
                own = {n: metadata_content(doc, n) for n in metadata_names(doc) if n != ".zmetadata"}
                content["metadata"] = {**own, **entries}
            else:
                marker = content.get("consolidated_metadata") or {"kind": "inline", "must_understand": False}
                content["consolidated_metadata"] = {**marker, "metadata": entries}
        return json.dumps(content, allow_nan=True).encode()

    async def _fetch(self, batch: Coalescer[str], path: str, request: Read | None) -> Handout | None:
        """The node read from the database (None if absent; then its ancestors are held for zarr's checks)."""
        result = await batch.submit(path, request)
        if isinstance(result, Absent):
            for doc in result.ancestors.values():
                if doc is not None:
                    self.state.walks.saw(doc)
            hold_ancestors(self.state.walks, result.ancestors)
            return None
        self.state.walks.saw(result.doc)
        return result

    def _from_walk(self, path: str, name: str, request: Read | None) -> Handout | None:
        """The handout of ``path`` from the running walk's snapshot, if it holds one for this read."""
        snapshot = self.state.walks.current()
        doc = None if snapshot is None else snapshot.take(path, name)
        return None if doc is None else handouts([doc], {path: [request]})[path]

    def note_view(self, document: dict[str, Any]) -> None:
        """Record that a zarr object was built from this node document (see ``MongoStore.note_view``)."""
        content = content_of(document)
        if content is not None:
            self.state.views.served(document["_id"], content, document.get("version"), 1)

    async def exists(self, db: Any, path: str, name: str) -> bool:
        """Whether the node at ``path`` holds metadata ``name`` (no view handed out)."""
        doc = await db[self.nodes_name].find_one({"_id": path}, {**NAMES_PROJECTION, "attributes": 1})
        return doc is not None and name in metadata_names(doc)
