"""The reply shim: make mongoeco's wire replies what every MongoDB driver expects.

mongoeco's wire server answers PyMongo well, but PyMongo is lenient: the Node.js
driver (and so mongosh) parses replies lazily and by BSON type, and fails every
``find`` with ``BSON element "id" is missing``. :func:`correct_reply` fixes a reply
document after mongoeco built it and before it is encoded, one correction per
difference, each saying what it corrects and why.

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
    cursor = reply.get("cursor")
    if isinstance(cursor, dict) and "id" in cursor:
        # A cursor id is a BSON int64 on MongoDB; mongoeco encodes small ids as int32.
        # The Node driver reads `cursor.id` as a long only, so an int32 id is
        # "missing" to it and every find, aggregate, listCollections... fails.
        cursor["id"] = Int64(cursor["id"])
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

    # The other half of the cursor id correction: drivers send back the int64 id they
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
