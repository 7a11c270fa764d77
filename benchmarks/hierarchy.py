"""Synthetic zarr hierarchies as documents, and loading them in bulk.

Building a 10,000-node hierarchy through zarr costs one write per node; the
metadata benchmarks only need the hierarchy to exist, so its documents are
generated here (MongoStore node documents, or the baseline's one document per
``zarr.json``) and inserted in bulk.

The mongoeco wire server runs each inserted document through a uniqueness
check that reads the whole collection, so bulk inserts over the wire grow
quadratically (10,000 documents take minutes). For the wire server the
documents are therefore written with mongoeco's in-process engine into the
SQLite file *before* the server starts on it; a real MongoDB gets ordinary
``insert_many`` calls.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mongozarr.storage.metadata_writes import node_document

__all__ = ["ATTRIBUTE", "Node", "baseline_documents", "find_documents", "load_into_sqlite", "node_documents", "nodes"]

#: The attribute every array carries, for queries.
ATTRIBUTE = "subject"

# What zarr 3 writes for a small uncompressed float32 array, minus the
# fields a node document keeps outside ``metadata``.
_ARRAY_METADATA: dict[str, Any] = {
    "shape": [100, 100],
    "data_type": "float32",
    "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [10, 10]}},
    "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
    "fill_value": 0.0,
    "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
    "storage_transformers": [],
    "dimension_names": ["y", "x"],  # xarray needs them to open v3 arrays
}
# The file name mongozarr.testing's server gives its SQLite database.
SQLITE_FILE = "mongoeco.sqlite"

Node = tuple[str, str, dict[str, Any]]  # (path, node_type, attributes)


def nodes(count: int, subjects: int = 50) -> list[Node]:
    """A hierarchy of ``count`` nodes: root, two levels of groups, arrays below.

    The fan-out grows with ``count`` (about its cube root), so both group
    listing and the number of arrays per group grow.
    """
    fanout = max(2, round((count / 10) ** (1 / 3)))
    result: list[Node] = [("", "group", {"title": "benchmark"})]
    level2: list[str] = []
    for i in range(fanout):
        result.append((f"g{i}", "group", {"kind": "session"}))
        for j in range(fanout):
            level2.append(f"g{i}/s{j}")
            result.append((level2[-1], "group", {"kind": "run"}))
    for k in range(max(0, count - len(result))):
        parent = level2[k % len(level2)]
        result.append((f"{parent}/a{k}", "array", {ATTRIBUTE: f"mouse-{k % subjects}", "index": k}))
    return result[:count]


def _metadata(node_type: str) -> dict[str, Any]:
    return dict(_ARRAY_METADATA) if node_type == "array" else {}


def node_documents(hierarchy: list[Node]) -> Iterator[dict[str, Any]]:
    """MongoStore node documents (the schema of ``<prefix>.nodes``)."""
    for path, node_type, attributes in hierarchy:
        yield node_document(path, 3, node_type, _metadata(node_type), attributes)


def baseline_documents(hierarchy: list[Node]) -> Iterator[dict[str, Any]]:
    """The baseline store's ``{_id: ".../zarr.json", value: bytes}`` documents."""
    for path, node_type, attributes in hierarchy:
        content = {**_metadata(node_type), "attributes": attributes, "zarr_format": 3, "node_type": node_type}
        key = f"{path}/zarr.json" if path else "zarr.json"
        yield {"_id": key, "value": json.dumps(content).encode()}


def find_documents(count: int, subjects: int = 1000) -> Iterator[dict[str, Any]]:
    """``count`` group documents under ``q/`` with ``attributes.subject`` to query."""
    yield node_document("", 3, "group", {}, {})
    yield node_document("q", 3, "group", {}, {})
    for i in range(count - 2):
        yield node_document(f"q/n{i}", 3, "group", {}, {ATTRIBUTE: f"mouse-{i % subjects}", "trial": i})


def load_into_sqlite(directory: Path, batches: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
    """Insert documents into ``directory``'s mongoeco SQLite file, in-process.

    Parameters
    ----------
    directory
        The directory a :class:`mongozarr.testing.WireServer` will serve;
        the server must not be running yet.
    batches
        Documents by ``(database, collection)``.
    """
    asyncio.run(_load_into_sqlite(directory / SQLITE_FILE, batches))


async def _load_into_sqlite(path: Path, batches: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
    from mongoeco import AsyncMongoClient
    from mongoeco.engines import SQLiteEngine

    async with AsyncMongoClient(SQLiteEngine(str(path))) as client:
        for (database, collection), documents in batches.items():
            for start in range(0, len(documents), 10_000):
                await client[database][collection].insert_many(documents[start : start + 10_000])
