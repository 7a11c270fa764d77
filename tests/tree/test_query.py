"""Translation of user queries and updates into MongoDB's (pure, no database)."""

from __future__ import annotations

import datetime
import math

import pytest

from mongozarr import DocumentTooLargeError, InvalidMetadataError, QueryError, ZPathError
from mongozarr.documents import MAX_DOCUMENT_BYTES
from mongozarr.query import check_update_size, to_mongo_filter, to_mongo_update


def test_attribute_keys_are_escaped_and_split_on_slash() -> None:
    assert to_mongo_filter({"a.b": 1, "x/$y": 2, "%": 3, "": 4, "ü/": 5}) == {
        "attributes.a%2Eb": 1,
        "attributes.x.%24y": 2,
        "attributes.%25": 3,
        "attributes.%": 4,
        "attributes.ü.%": 5,
    }


def test_structural_fields_and_the_at_escape() -> None:
    when = datetime.datetime(2024, 1, 1)
    assert to_mongo_filter(
        {"name": "img1", "@name": "x", "depth": {"$gte": 2}, "shape": [4, 4], "data_type": "uint16",
         "node_type": "array", "updated_at": {"$gt": when}}
    ) == {
        "name": "img1",
        "attributes.name": "x",
        "depth": {"$gte": 2},
        "metadata.shape": [4, 4],
        "metadata.data_type": "uint16",
        "node_type": "array",
        "updated_at": {"$gt": when},
    }


def test_paths_drop_their_leading_slash() -> None:
    assert to_mongo_filter({"path": "/raw/img1"}) == {"_id": "raw/img1"}
    assert to_mongo_filter({"parent": {"$in": ["/raw", "/"]}}) == {"parent": {"$in": ["raw", ""]}}
    assert to_mongo_filter({"path": {"$regex": "^/raw/"}}) == {"_id": {"$regex": "^raw/"}}


def test_values_are_encoded_losslessly() -> None:
    big = 2**70
    assert to_mongo_filter({"n": big}) == {"attributes.n": {"%int": str(big)}}
    assert to_mongo_filter({"n": math.nan}) == {"attributes.n": {"%float": "NaN"}}
    assert to_mongo_filter({"n": {"$in": [math.inf, 1]}}) == {"attributes.n": {"$in": [{"%float": "Infinity"}, 1]}}
    assert to_mongo_filter({"d": {"a.b": 1}}) == {"attributes.d": {"a%2Eb": 1}}


def test_operators_pass_through() -> None:
    query = {
        "$or": [{"subject": {"$regex": "^mouse", "$options": "i"}}, {"n": {"$not": {"$gt": 3}}}],
        "tags": {"$all": ["a"], "$size": 2},
        "k": {"$exists": True, "$type": "string"},
        "items": {"$elemMatch": {"score/max": {"$gt": 5}, "a.b": 1}},
        "nums": {"$elemMatch": {"$gt": 1, "$lt": 4}},
    }
    assert to_mongo_filter(query) == {
        "$or": [
            {"attributes.subject": {"$regex": "^mouse", "$options": "i"}},
            {"attributes.n": {"$not": {"$gt": 3}}},
        ],
        "attributes.tags": {"$all": ["a"], "$size": 2},
        "attributes.k": {"$exists": True, "$type": "string"},
        "attributes.items": {"$elemMatch": {"score.max": {"$gt": 5}, "a%2Eb": 1}},
        "attributes.nums": {"$elemMatch": {"$gt": 1, "$lt": 4}},
    }


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ({"a": {"$gt": 1, "b": 2}}, "mixes operators"),
        ({"a": {"$near": 1}}, "unknown query operator '$near'"),
        ({"$where": "1"}, "unknown top-level"),
        ({"$or": []}, "non-empty list"),
        ({"a": {"$in": 3}}, "needs a list"),
        ({"a": {"$gt": 2**70}}, "cannot be compared by order"),
        ({"a": {"$size": -1}}, "non-negative"),
        ({"a": object()}, "not JSON"),
        ([1], "JSON object"),
    ],
)
def test_bad_queries(query: object, fragment: str) -> None:
    with pytest.raises(QueryError) as info:
        to_mongo_filter(query)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_bad_attribute_path_in_query() -> None:
    with pytest.raises(ZPathError):
        to_mongo_filter({"a@b": 1})


def test_update_translation() -> None:
    ops = {
        "$set": {"a.b": 2**64, "x": {"$y": math.nan}},
        "$unset": {"old": 1},
        "$inc": {"spam/count": 1},
        "$mul": {"f": 1.5},
        "$min": {"lo": 3},
        "$max": {"hi": "z"},
        "$push": {"labels": {"$each": [1, 2], "$slice": -10, "$position": 0, "$sort": {"s.t": 1}}},
        "$addToSet": {"tags": {"$each": ["a"]}, "one": "v"},
        "$pull": {"p": {"$gte": 6}, "docs": {"k.x": 1}, "vals": 5},
        "$rename": {"from": "to/a.b"},
    }
    assert to_mongo_update(ops) == {
        "$set": {"attributes.a%2Eb": {"%int": str(2**64)}, "attributes.x": {"%24y": {"%float": "NaN"}}},
        "$unset": {"attributes.old": ""},
        "$inc": {"attributes.spam.count": 1},
        "$mul": {"attributes.f": 1.5},
        "$min": {"attributes.lo": 3},
        "$max": {"attributes.hi": "z"},
        "$push": {"attributes.labels": {"$each": [1, 2], "$slice": -10, "$position": 0, "$sort": {"s%2Et": 1}}},
        "$addToSet": {"attributes.tags": {"$each": ["a"]}, "attributes.one": "v"},
        "$pull": {"attributes.p": {"$gte": 6}, "attributes.docs": {"k%2Ex": 1}, "attributes.vals": 5},
        "$rename": {"attributes.from": "attributes.to.a%2Eb"},
    }


@pytest.mark.parametrize(
    ("ops", "fragment"),
    [
        ({}, "non-empty"),
        ({"a": 1}, "wrap plain values"),
        ({"$setOnInsert": {"a": 1}}, "unknown update operator '$setOnInsert'"),
        ({"$set": {}}, "non-empty object"),
        ({"$inc": {"a": "1"}}, "finite number"),
        ({"$inc": {"a": True}}, "finite number"),
        ({"$inc": {"a": 2**64}}, "within int64"),
        ({"$mul": {"a": math.nan}}, "finite number"),
        ({"$min": {"a": 2**70}}, "MongoDB's range"),
        ({"$push": {"a": {"$each": 1}}}, "'$each' with a list"),
        ({"$push": {"a": {"$each": [1], "$bogus": 1}}}, "unknown modifier"),
        ({"$addToSet": {"a": {"$each": [1], "$slice": 1}}}, "unknown modifier"),
        ({"$push": {"a": {"$each": [1], "$slice": "x"}}}, "$slice needs an integer"),
        ({"$rename": {"a": 1}}, "new attribute path"),
        ({"$set": {"a": {1, 2}}}, "not JSON"),
    ],
)
def test_bad_updates(ops: dict, fragment: str) -> None:
    with pytest.raises(QueryError) as info:
        to_mongo_update(ops)
    assert fragment in str(info.value)


def test_update_size_is_checked_before_writing() -> None:
    fits = to_mongo_update({"$set": {"big.one": "x" * (MAX_DOCUMENT_BYTES - 100)}})
    check_update_size(fits, "node '/a'")
    too_big = to_mongo_update({"$set": {"big.one": "x" * MAX_DOCUMENT_BYTES, "small": 1}})
    with pytest.raises(DocumentTooLargeError) as info:
        check_update_size(too_big, "node '/a'")
    assert "'big.one'" in str(info.value) and "16 MiB" in str(info.value)


def test_update_nesting_is_checked() -> None:
    def nested(levels: int) -> object:
        value: object = 1
        for _ in range(levels):
            value = {"k": value}
        return value

    # As the store counts them: a value at attributes.a may nest 98 levels
    # (the node document and "attributes" take two of MongoDB's 100).
    check_update_size(to_mongo_update({"$set": {"a": nested(98)}}), "node")
    with pytest.raises(InvalidMetadataError, match="nests deeper"):
        check_update_size(to_mongo_update({"$set": {"a": nested(99)}}), "node")
    # A pushed item sits one level deeper than its list, at attributes.x.y.
    check_update_size(to_mongo_update({"$push": {"x/y": nested(96)}}), "node")
    with pytest.raises(InvalidMetadataError, match="nests deeper"):
        check_update_size(to_mongo_update({"$push": {"x/y": nested(97)}}), "node")
