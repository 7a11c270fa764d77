"""PyMongo's async API over a synchronous database: the facade client objects go through."""

from __future__ import annotations

from typing import Any

import mongomock
import pytest
from pymongo.errors import BulkWriteError

from mongozarr.storage.sync_facade import SyncFacadeDatabase
from mongozarr.storage.writes import Delete, Insert, Replace, Update
from mongozarr.testing.mongomock_async import AsyncMockDatabase


@pytest.fixture(params=["mongomock", "wire"])
def facade(request: pytest.FixtureRequest) -> Any:
    """The mongomock facade (inline), or the generic one over a real sync client (threads)."""
    if request.param == "mongomock":
        return AsyncMockDatabase(mongomock.MongoClient()["db"])
    import pymongo

    uri = request.getfixturevalue("wire_uri")
    client = pymongo.MongoClient(uri)
    request.addfinalizer(client.close)
    return SyncFacadeDatabase(client[uri.split("/")[3].split("?")[0]])


@pytest.mark.asyncio
async def test_cursors_sort_limit_skip_and_iterate(facade: Any) -> None:
    things = facade["things"]
    await things.insert_many([{"_id": i, "even": i % 2 == 0} for i in range(10)])
    assert [d["_id"] for d in await things.find({"even": True}).sort("_id", -1).skip(1).limit(2).to_list()] == [6, 4]
    assert [d["_id"] async for d in things.find({}, {"_id": 1}).sort("_id", 1)] == list(range(10))
    assert len(await things.find({}).to_list(3)) == 3
    cursor = await things.aggregate([{"$group": {"_id": "$even", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}])
    assert await cursor.to_list() == [{"_id": False, "n": 5}, {"_id": True, "n": 5}]
    assert await things.count_documents({"even": False}) == 5
    assert sorted(await things.distinct("even")) == [False, True]


@pytest.mark.asyncio
async def test_single_calls(facade: Any) -> None:
    things = facade["things"]
    await things.insert_one({"_id": "a", "n": 1})
    await things.update_one({"_id": "a"}, {"$inc": {"n": 1}})
    doc = await things.find_one_and_update({"_id": "a"}, {"$inc": {"n": 1}}, return_document=True)
    assert doc["n"] == 3
    await things.replace_one({"_id": "a"}, {"n": 10})
    assert (await things.find_one({"_id": "a"}))["n"] == 10
    await things.update_many({}, {"$set": {"m": 1}})
    await things.create_index("m", name="m_1")
    await things.delete_one({"_id": "a"})
    assert await things.find_one({"_id": "a"}) is None
    assert (await facade.command("ping"))["ok"] == 1


@pytest.mark.asyncio
async def test_bulk_write_of_described_requests(facade: Any) -> None:
    things = facade["things"]
    await things.insert_one({"_id": "taken"})
    requests = [
        Insert({"_id": "x", "n": 1}),
        Update({"_id": "x"}, {"$inc": {"n": 1}}),
        Replace({"_id": "y"}, {"_id": "y", "n": 5}, upsert=True),
        Insert({"_id": "taken"}),
        Delete({"_id": "nothing"}),
    ]
    with pytest.raises(BulkWriteError) as raised:
        await things.bulk_write(requests, ordered=False)
    assert [error["index"] for error in raised.value.details["writeErrors"]] == [3]
    assert {d["_id"]: d.get("n") for d in await things.find({}).to_list()} == {"taken": None, "x": 2, "y": 5}
