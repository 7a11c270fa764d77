"""Store keys: which are node metadata, which are chunks, and whose chunks."""

from __future__ import annotations

import re

from mongozarr.documents import METADATA_NAMES

__all__ = ["dir_prefixes", "guess_node", "prefix_regex", "split_key"]


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
