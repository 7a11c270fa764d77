"""The reply shim: make mongoeco's wire replies what every MongoDB driver expects.

mongoeco's wire server answers PyMongo well, but PyMongo is lenient: the Node.js
driver (and so mongosh) parses replies lazily and by BSON type, and fails every
``find`` with ``BSON element "id" is missing``. :func:`correct_reply` fixes a reply
document after mongoeco built it and before it is encoded, and :func:`correct_request`
a command before mongoeco reads it; each correction says what it corrects and why:

1. cursor ids are int64 (replies), and the int64 ids drivers send back are read
   (``getMore``, ``killCursors``);
2. ``listIndexes`` specs carry their index version ``v``;
3. ``buildInfo`` has the fields MongoDB's always has (``modules``, ``bits``...).

Checked and left alone: ``count``, ``distinct``, ``listCollections`` and ``hello`` read
fine in the Node driver as they are. ``hello`` deliberately still lacks
``topologyVersion``: with it the Node driver would switch to streaming server
monitoring (awaitable ``hello``), which mongoeco does not implement.

This is the one module that adapts mongoeco internals: the server has no public hook
between command execution and reply encoding, so :func:`make_proxy_server` wraps the
server's command executor (its private ``_executor``). Nothing is patched globally;
only servers built here are affected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson.int64 import Int64

if TYPE_CHECKING:
    from mongoeco.wire import AsyncMongoEcoProxyServer

__all__ = ["correct_reply", "correct_request", "make_proxy_server"]

_INDEX_VERSION = 2
_BUILD_INFO_DEFAULTS: dict[str, Any] = {
    "modules": [],
    "bits": 64,
    "debug": False,
    "maxBsonObjectSize": 16 * 1024 * 1024,
}


def correct_reply(command_name: str, reply: dict[str, Any]) -> dict[str, Any]:
    """Correct a command reply in place for strict drivers, and return it.

    Parameters
    ----------
    command_name
        The command's name as sent (``find``, ``getMore``, ``hello``...).
    reply
        The reply document mongoeco built.

    Returns
    -------
    dict
        The same document, corrected.
    """
    if reply.get("ok") != 1:
        return reply  # errors pass as they are
    cursor = reply.get("cursor")
    if isinstance(cursor, dict) and "id" in cursor:
        # 1. A cursor id is a BSON int64 on MongoDB; mongoeco encodes small ids as int32.
        # The Node driver reads `cursor.id` as a long only, so an int32 id is "missing"
        # to it and every find, aggregate, getMore, listCollections, listIndexes fails
        # (MongoUnexpectedServerResponseError: BSON element "id" is missing).
        cursor["id"] = Int64(cursor["id"])
    if command_name == "listIndexes" and isinstance(cursor, dict):
        for spec in cursor.get("firstBatch", []):
            # 2. Every index spec MongoDB lists carries its index version `v` (2 since
            # MongoDB 3.4); mongoeco's have none. Tools that copy index definitions
            # (mongodump/mongorestore, getIndexes() output pasted into createIndex) keep it.
            if isinstance(spec, dict):
                spec.setdefault("v", _INDEX_VERSION)
    if command_name in ("buildInfo", "buildinfo"):
        # 3. Fields MongoDB's buildInfo always has and mongoeco's lacks; clients that
        # feature-detect read them (an enterprise server is recognised by `modules`).
        # With them a client sees a plain 64-bit community server, not a missing field.
        for key, value in _BUILD_INFO_DEFAULTS.items():
            reply.setdefault(key, value)
    return reply


def correct_request(body: dict[str, Any]) -> dict[str, Any]:
    """Correct a decoded command document in place before mongoeco reads it, and return it.

    Parameters
    ----------
    body
        The command document as mongoeco decoded it from the wire.

    Returns
    -------
    dict
        The same document, corrected.
    """
    from mongoeco.core.bson_scalars import BsonInt64

    def plain(value: Any) -> Any:
        return value.value if isinstance(value, BsonInt64) else value

    # 1, the other half: drivers send back the int64 cursor id they
    # were given, which mongoeco decodes to its BsonInt64 wrapper, not an int, and
    # then refuses ("getMore cursor id must be an integer"). Unwrap it.
    if "getMore" in body:
        body["getMore"] = plain(body["getMore"])
    if "killCursors" in body and isinstance(body.get("cursors"), list):
        body["cursors"] = [plain(cursor_id) for cursor_id in body["cursors"]]
    return body


class _CorrectingExecutor:
    """Delegates to mongoeco's command executor, correcting each request and reply."""

    def __init__(self, executor: Any) -> None:
        self._executor = executor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._executor, name)

    def _build_request_context(self, body: dict[str, Any], **kwargs: Any) -> Any:
        return self._executor._build_request_context(correct_request(body), **kwargs)

    async def execute_prepared(self, context: Any) -> dict[str, Any]:
        reply = await self._executor.execute_prepared(context)
        return correct_reply(context.command_name, reply)


def make_proxy_server(engine: Any, *, host: str, port: int) -> AsyncMongoEcoProxyServer:
    """A mongoeco wire server on ``engine`` whose replies go through :func:`correct_reply`."""
    from mongoeco.wire import AsyncMongoEcoProxyServer

    server = AsyncMongoEcoProxyServer(engine=engine, host=host, port=port)
    # mongoeco has no public reply hook: wrap the executor the server dispatches
    # every command to (tests/server/test_replies.py checks the hook still exists).
    server._executor = _CorrectingExecutor(server._executor)
    return server
