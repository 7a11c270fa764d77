"""Direct access to a store's collections with plain (synchronous) PyMongo.

Tests use this to check what is really in the database, bypassing MongoStore.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pymongo

from mongozarr.documents import (
    METADATA_NAMES,
    escape_key,
    metadata_names,
    path_fields,
    render_metadata,
)
from mongozarr.storage.connection import mongomock_server

_CLIENTS: dict[str, pymongo.MongoClient[Any]] = {}


def database(uri: str) -> Any:
    """The synchronous database behind ``uri``."""
    parts = urlsplit(uri)
    name = parts.path.lstrip("/") or "zarr"
    if parts.scheme == "mongomock":
        return mongomock_server(parts.netloc)[name]
    server = uri.split("/")[2]
    if server not in _CLIENTS:
        _CLIENTS[server] = pymongo.MongoClient(uri)
    return _CLIENTS[server][name]


def drop(uri: str) -> None:
    """Drop the database behind ``uri`` (the wire server slows down as databases pile up)."""
    db = database(uri)
    db.client.drop_database(db.name)


def read_key(db: Any, key: str, prefix: str = "zarr") -> bytes | None:
    """The bytes at ``key``, read from the documents without MongoStore."""
    path, _, name = key.rpartition("/")
    doc = db[f"{prefix}.nodes"].find_one({"_id": path})
    if doc is not None and name in metadata_names(doc):
        return render_metadata(doc, name)
    chunk = db[f"{prefix}.chunks"].find_one({"_id": key})
    if chunk is None:
        return None
    if "data" in chunk:
        return bytes(chunk["data"])
    pieces = db[f"{prefix}.fs.chunks"].find({"files_id": chunk["gridfs_id"]}).sort("n", 1)
    return b"".join(bytes(p["data"]) for p in pieces)


def write_key(db: Any, key: str, data: bytes, prefix: str = "zarr") -> None:
    """Write bytes at ``key`` without MongoStore: metadata names as raw node bytes, else a chunk."""
    node, _, name = key.rpartition("/")
    if name in METADATA_NAMES:
        fields = path_fields(node)
        db[f"{prefix}.nodes"].update_one(
            {"_id": node},
            {"$set": {f"raw.{escape_key(name)}": data},
             "$setOnInsert": {**fields, "node_type": None, "zarr_format": None, "version": 1}},
            upsert=True,
        )
        return
    db[f"{prefix}.chunks"].replace_one(
        {"_id": key}, {"_id": key, "node": node, "size": len(data), "data": data}, upsert=True
    )


def close_all() -> None:
    """Close the clients this module opened (the test session's end)."""
    while _CLIENTS:
        _CLIENTS.popitem()[1].close()
