"""The reply shim, seen from PyMongo: what mongoeco's replies lacked is there now.

PyMongo decodes a BSON int64 as ``bson.Int64`` and an int32 as a plain ``int``, so
these tests see the BSON types strict drivers (Node.js, mongosh) insist on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymongo
import pytest
from bson.int64 import Int64

from mongozarr.server.replies import correct_reply, correct_request
from mongozarr.testing import WireServer
from tests.server.processes import require_server


@pytest.fixture
def db(wire_server: WireServer) -> Iterator[Any]:
    """A database with 5 documents and an index, on the suite's wire server (the shimmed server)."""
    name = "replies"
    with pymongo.MongoClient(wire_server.uri(name)) as client:
        database = client[name]
        database.drop_collection("nodes")
        database.nodes.insert_many([{"_id": f"n{i}", "k": i % 3} for i in range(5)])
        database.nodes.create_index("k")
        yield database
        client.drop_database(name)


@pytest.mark.wire
@pytest.mark.parametrize("command", [
    {"find": "nodes"},
    {"find": "nodes", "batchSize": 2},
    {"aggregate": "nodes", "pipeline": [{"$match": {}}], "cursor": {}},
    {"listCollections": 1},
    {"listIndexes": "nodes"},
], ids=["find", "find-batched", "aggregate", "listCollections", "listIndexes"])
def test_cursor_ids_are_int64(db: Any, command: dict[str, Any]) -> None:
    cursor = db.command(command)["cursor"]
    assert type(cursor["id"]) is Int64


@pytest.mark.wire
def test_get_more_and_kill_cursors_take_the_int64_id_back(db: Any) -> None:
    first = db.command({"find": "nodes", "batchSize": 2})["cursor"]
    assert first["id"] != 0 and len(first["firstBatch"]) == 2
    more = db.command({"getMore": Int64(first["id"]), "collection": "nodes", "batchSize": 2})["cursor"]
    assert type(more["id"]) is Int64 and more["id"] == first["id"]
    assert [d["_id"] for d in more["nextBatch"]] != [d["_id"] for d in first["firstBatch"]]
    killed = db.command({"killCursors": "nodes", "cursors": [Int64(more["id"])]})
    assert killed["cursorsKilled"] == [more["id"]]
    # PyMongo's own cursors: small batches mean getMore after getMore, with int64 ids.
    assert sorted(d["_id"] for d in db.nodes.find(batch_size=2)) == [f"n{i}" for i in range(5)]


@pytest.mark.wire
def test_list_indexes_gives_the_index_version(db: Any) -> None:
    specs = db.command({"listIndexes": "nodes"})["cursor"]["firstBatch"]
    assert {spec["name"]: spec["v"] for spec in specs} == {"_id_": 2, "k_1": 2}


@pytest.mark.wire
def test_build_info_has_the_fields_mongodb_always_has(db: Any) -> None:
    info = db.command("buildInfo")
    assert (info["modules"], info["bits"], info["debug"]) == ([], 64, False)
    assert info["maxBsonObjectSize"] == 16 * 1024 * 1024
    assert info["version"]  # mongoeco's own fields are kept


@pytest.mark.wire
def test_count_and_distinct_answer_as_mongodb_does(db: Any) -> None:
    assert db.command({"count": "nodes", "query": {"k": 1}})["n"] == 2
    assert db.command({"distinct": "nodes", "key": "k"})["values"] == [0, 1, 2]


def test_correct_reply_leaves_errors_and_foreign_fields_alone() -> None:
    error = {"ok": 0.0, "errmsg": "no", "cursor": {"id": 3}}
    assert correct_reply("find", error) == {"ok": 0.0, "errmsg": "no", "cursor": {"id": 3}}
    reply = correct_reply("buildInfo", {"ok": 1.0, "version": "7.0.0", "modules": ["x"]})
    assert reply["modules"] == ["x"] and reply["bits"] == 64


def test_correct_request_unwraps_mongoeco_int64() -> None:
    require_server()
    from mongoeco.core.bson_scalars import BsonInt64

    body = correct_request({"getMore": BsonInt64(7), "collection": "c"})
    assert body["getMore"] == 7 and type(body["getMore"]) is int
    body = correct_request({"killCursors": "c", "cursors": [BsonInt64(7), 8]})
    assert body["cursors"] == [7, 8]


def test_the_hook_in_mongoeco_is_still_there() -> None:
    # The shim wraps the proxy server's private `_executor`; if mongoeco renames it,
    # or stops building requests and executing them through it, this says so.
    require_server()
    from mongoeco.engines import MemoryEngine
    from mongoeco.wire import AsyncMongoEcoProxyServer

    from mongozarr.server.replies import make_proxy_server

    plain = AsyncMongoEcoProxyServer(engine=MemoryEngine())
    assert callable(plain._executor._build_request_context)
    assert callable(plain._executor.execute_prepared)
    server = make_proxy_server(MemoryEngine(), host="127.0.0.1", port=0)
    assert type(server._executor).__name__ == "_CorrectingExecutor"
