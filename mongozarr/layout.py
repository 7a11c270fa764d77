"""The database layout: collection names, index specs, node and subtree filters, store keys.

The one place that knows the names of the schema (DESIGN.md). A store with
collection prefix ``P`` keeps its data in:

- ``P.nodes``: one document per group or array (``_id`` is the node path);
- ``P.chunks``: one document per chunk (``_id`` is the store key), holding the
  bytes inline, or pointing to GridFS (``gridfs_id``) or an external store
  (``external``);
- ``P.fs.files`` / ``P.fs.chunks``: the GridFS bucket ``P.fs``;
- ``P.locks``: leases.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from mongozarr.documents import METADATA_NAMES, has_unsafe_segment

__all__ = [
    "EXTERNAL",
    "GRIDFS_ID",
    "KEYS_PER_QUERY",
    "LINKS",
    "NODES_PER_REPLY",
    "PENDING_APPENDS",
    "Layout",
    "check_database",
    "check_key",
    "check_prefix",
    "dir_prefixes",
    "guess_node",
    "in_batches",
    "key_of",
    "metadata_key",
    "prefix_regex",
    "split_key",
    "strictly_below",
    "subtree",
]

T = TypeVar("T")

# Fields of chunk documents.
GRIDFS_ID = "gridfs_id"
EXTERNAL = "external"
# Fields of node documents written by coordination (links, appends).
LINKS = "links"
PENDING_APPENDS = "pending_appends"
# Node documents asked for per reply when a query may return many (a walk's
# level, a Tree find): one reply for most. MongoDB caps a reply at 16 MiB by
# itself; the mongoeco server does not, so the bound is ours.
NODES_PER_REPLY = 25_000
# The most values one `$in` carries. MongoDB takes any number that fits 16 MiB,
# but mongoeco (the local server and the wire tier) nests `$in` into an
# expression tree it refuses deeper than 1000: beyond about 495 values.
KEYS_PER_QUERY = 400


def in_batches(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """``values`` in slices small enough for one ``$in`` on every server."""
    for start in range(0, len(values), KEYS_PER_QUERY):
        yield values[start : start + KEYS_PER_QUERY]


_PREFIX = re.compile(r"[A-Za-z0-9_-]{1,64}")
# MongoDB's own databases: a store there could break the server or a replica set.
_RESERVED_DATABASES = frozenset({"admin", "config", "local"})
_DATABASE_FORBIDDEN = re.compile(r'[/\\. "$*<>:|?\x00]')


def check_prefix(prefix: object) -> str:
    """``prefix`` if it is a valid collection prefix, else ``ValueError`` saying why.

    Letters, digits, ``_`` and ``-``, at most 64 characters, not ``system*``. No
    dots: prefix ``zarr.fs`` would name collections of prefix ``zarr``
    (``zarr.fs.chunks`` is its GridFS bucket) and destroy them.
    """
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise ValueError(
            f"invalid collection prefix {prefix!r}: use 1 to 64 letters, digits, '_' or '-' "
            "(no '.': it would reach into another prefix's collections)"
        )
    if prefix.startswith("system"):
        raise ValueError(f"invalid collection prefix {prefix!r}: 'system' names MongoDB's own collections")
    return prefix


def check_key(key: str) -> str:
    """``key`` if a store may write it, else ``ValueError`` saying why.

    Refused: a leading ``/``, empty, ``.`` or ``..`` segments (``a//b``,
    ``a/../b``: they would name a node under another path), and a metadata
    name before the last segment (``a/zarr.json/b``: a node inside a file).
    """
    segments = key.split("/")
    if has_unsafe_segment(key):
        raise ValueError(f"invalid store key {key!r}: empty, '.' and '..' segments (and a leading '/') are refused")
    if any(segment in METADATA_NAMES for segment in segments[:-1]):
        raise ValueError(f"invalid store key {key!r}: a metadata name can only be the last segment")
    return key


def check_database(name: object) -> str:
    """``name`` if a store may use that database, else ``ValueError`` saying why."""
    if not isinstance(name, str) or not name or len(name.encode()) > 63 or _DATABASE_FORBIDDEN.search(name):
        raise ValueError(
            f"invalid database name {name!r}: 1 to 63 bytes, without / \\ . space \" $ * < > : | ?"
        )
    if name in _RESERVED_DATABASES:
        raise ValueError(f"database {name!r} is MongoDB's own; use another database for zarr data")
    return name


@dataclass(frozen=True)
class Layout:
    """The collection names and indexes of one collection prefix."""

    prefix: str

    @property
    def nodes(self) -> str:
        """Node documents: one per group or array."""
        return f"{self.prefix}.nodes"

    @property
    def chunks(self) -> str:
        """Chunk documents: inline bytes or a pointer to GridFS or an external store."""
        return f"{self.prefix}.chunks"

    @property
    def gridfs_bucket(self) -> str:
        """The GridFS bucket name (its collections are ``.files`` and ``.chunks``)."""
        return f"{self.prefix}.fs"

    @property
    def fs_files(self) -> str:
        return f"{self.prefix}.fs.files"

    @property
    def fs_chunks(self) -> str:
        return f"{self.prefix}.fs.chunks"

    @property
    def locks(self) -> str:
        """Leases, one document per leased name."""
        return f"{self.prefix}.locks"

    def collections(self) -> tuple[str, ...]:
        """Every collection of this prefix."""
        return (self.nodes, self.chunks, self.fs_files, self.fs_chunks, self.locks)

    def indexes(self) -> dict[str, list[tuple[list[tuple[str, int]], dict[str, Any]]]]:
        """The indexes every store of this prefix relies on: collection -> [(keys, options)]."""
        return {
            self.nodes: [([("parent", 1)], {"name": "parent_1"})],
            self.chunks: [([("node", 1)], {"name": "node_1"})],
            self.fs_chunks: [([("files_id", 1), ("n", 1)], {"name": "files_id_1_n_1", "unique": True})],
            self.fs_files: [([("filename", 1), ("uploadDate", 1)], {"name": "filename_1_uploadDate_1"})],
        }


def subtree(path: str, field: str = "_id") -> dict[str, Any]:
    """A filter for the node at ``path`` and everything below it (``""`` is the whole tree)."""
    if not path:
        return {}
    return {"$or": [{field: path}, {field: prefix_regex(path + "/")}]}


def strictly_below(path: str, field: str = "_id") -> dict[str, Any]:
    """A filter for everything below ``path``, not ``path`` itself (the root is ``""``)."""
    if not path:
        return {field: {"$ne": ""}}
    return {field: prefix_regex(path + "/")}


def split_key(key: str) -> tuple[str, str]:
    """Split a store key into (directory path, last component)."""
    directory, _, name = key.rpartition("/")
    return directory, name


def metadata_key(key: str) -> tuple[str, str] | None:
    """(node path, metadata name) when ``key`` names node metadata, else None."""
    path, name = split_key(key)
    return (path, name) if name in METADATA_NAMES else None


def key_of(path: str, name: str) -> str:
    """The store key of metadata ``name`` of the node at ``path``."""
    return f"{path}/{name}" if path else name


def guess_node(key: str, arrays: set[str] | frozenset[str] = frozenset()) -> str:
    """The path of the array a chunk key belongs to.

    Arrays this process has seen win (a chunk lives under exactly one array).
    Otherwise the chunk key encoding decides: v3 default keys end in
    ``c/<i>/<j>``, v2 keys in ``<i>.<j>`` or ``<i>/<j>``.
    """
    parts = key.split("/")[:-1]
    for i in range(len(parts), -1, -1):
        if "/".join(parts[:i]) in arrays:
            return "/".join(parts[:i])
    name = key.rsplit("/", 1)[-1]
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "c" and all(p.isdigit() for p in parts[i + 1 :]) and name.isdigit():
            return "/".join(parts[:i])
    if name.isdigit():
        while parts and parts[-1].isdigit():
            parts.pop()
    return "/".join(parts)


def dir_prefixes(key: str) -> list[str]:
    """Every directory that contains ``key``, from the root down."""
    parts = key.split("/")[:-1]
    return [""] + ["/".join(parts[: i + 1]) for i in range(len(parts))]


def prefix_regex(prefix: str) -> dict[str, str]:
    """A MongoDB condition matching strings that start with ``prefix``.

    Anchored and case-sensitive, so MongoDB answers it from the ``_id`` index.
    """
    return {"$regex": "^" + re.escape(prefix)}
