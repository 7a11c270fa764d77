"""Translate user queries and update operators into MongoDB's, on node documents.

Users write attribute paths as after the ``@`` of a zpath (``"spam/eggs"``,
keys separated by ``/``, ``"a.b"`` is one key) and plain JSON values. MongoDB
needs ``attributes.spam.eggs`` with every key escaped (``.``→``%2E`` ...) and
every value encoded (integers beyond int64, NaN). This module is pure (no
I/O): it does that translation and validates operators, so that a mistake is
a :class:`~mongozarr.errors.QueryError` naming it rather than a silent
non-match.

Query keys are either structural fields of the node document
(:data:`STRUCTURAL_FIELDS`) or attribute paths; a leading ``@`` forces the
attribute meaning (``"@name"`` is the attribute ``name``, ``"name"`` the node
name; ``"@$x"`` the attribute ``$x``, as a bare ``"$x"`` is an operator).
MongoDB's query operators pass through with their operands encoded.
"""

from __future__ import annotations

import math
from typing import Any

import bson

from mongozarr.documents import (
    MAX_DOCUMENT_BYTES,
    MAX_NESTING,
    encode_value,
    escape_path,
    nesting,
    unescape_key,
)
from mongozarr.errors import DocumentTooLargeError, InvalidMetadataError, QueryError
from mongozarr.layout import strictly_below
from mongozarr.zpath import format_attribute_path, parse_attribute_path, parse_node_path

__all__ = [
    "QUERY_OPERATORS",
    "STRUCTURAL_FIELDS",
    "UPDATE_OPERATORS",
    "all_of",
    "attribute_field",
    "check_update_size",
    "node_filter",
    "query_field",
    "to_mongo_filter",
    "to_mongo_update",
]

#: Query keys that name node document fields rather than attributes.
STRUCTURAL_FIELDS: dict[str, str] = {
    "path": "_id",
    "parent": "parent",
    "name": "name",
    "depth": "depth",
    "node_type": "node_type",
    "zarr_format": "zarr_format",
    "shape": "metadata.shape",
    "data_type": "metadata.data_type",
    "chunk_grid": "metadata.chunk_grid",
    "version": "version",
    "updated_at": "updated_at",
}
# Fields whose values are node paths: users write them with a leading "/".
_PATH_FIELDS = frozenset({"_id", "parent"})

#: The update operators :func:`to_mongo_update` accepts.
UPDATE_OPERATORS = (
    "$set", "$unset", "$inc", "$mul", "$min", "$max", "$push", "$addToSet", "$pull", "$rename",
)
_COMPARISONS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"})
_LISTS = frozenset({"$in", "$nin", "$all"})
#: The query operators on a field that :func:`to_mongo_filter` accepts.
QUERY_OPERATORS = tuple(sorted(
    _COMPARISONS | _LISTS | {"$exists", "$regex", "$options", "$not", "$size", "$type", "$mod", "$elemMatch"}
))
_LOGICAL = frozenset({"$and", "$or", "$nor"})
_PUSH_MODIFIERS = frozenset({"$each", "$slice", "$position", "$sort"})
_INT64 = 2**63


def attribute_field(keys: tuple[str, ...]) -> str:
    """The escaped MongoDB field of an attribute path."""
    return "attributes." + escape_path(list(keys))


def query_field(key: str) -> tuple[str, bool]:
    """The document field a query key names, and whether it holds node paths.

    Structural names map to their document fields; everything else (and any
    key starting with ``@``) is an attribute path.
    """
    if not isinstance(key, str):
        raise QueryError(f"query keys are strings, got {key!r}")
    if key in STRUCTURAL_FIELDS:
        field = STRUCTURAL_FIELDS[key]
        return field, field in _PATH_FIELDS
    return attribute_field(parse_attribute_path(key)), False


def _element_field(key: str) -> tuple[str, bool]:
    """Fields inside an array element (``$elemMatch``, ``$pull``): attribute sub-paths."""
    if not isinstance(key, str):
        raise QueryError(f"query keys are strings, got {key!r}")
    return escape_path(list(parse_attribute_path(key))), False


def _strip_slash(value: Any) -> Any:
    return value[1:] if isinstance(value, str) and value.startswith("/") else value


def _value(value: Any, is_path: bool, structural: bool, where: str) -> Any:
    """One operand, as stored: encoded for attributes, a store path for paths."""
    if is_path:
        return _strip_slash(value)
    if structural:
        return value  # metadata and bookkeeping fields are plain BSON (dates too)
    try:
        return encode_value(value, where)
    except InvalidMetadataError as exc:
        raise QueryError(f"query on {where!r}: {exc}") from None


def _is_operator_dict(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(
        isinstance(k, str) and k.startswith("$") for k in value
    )


def _condition(value: Any, key: str, field: str, is_path: bool, element: bool = False) -> Any:
    """The MongoDB condition for ``value`` on ``key`` (a literal or operators)."""
    structural = field in STRUCTURAL_FIELDS.values() and not element
    if isinstance(value, dict) and any(isinstance(k, str) and k.startswith("$") for k in value):
        if not _is_operator_dict(value):
            raise QueryError(f"query on {key!r} mixes operators and field names: {value!r}")
        return {op: _operator(op, operand, key, field, is_path, structural, element)
                for op, operand in value.items()}
    return _value(value, is_path, structural, key)


def _operator(
    op: str, operand: Any, key: str, field: str, is_path: bool, structural: bool, element: bool
) -> Any:
    if op in _COMPARISONS:
        value = _value(operand, is_path, structural, key)
        if op not in ("$eq", "$ne") and not structural and isinstance(value, dict) and not isinstance(operand, dict):
            # Tagged values ({"%int": ...}) compare as documents, not numbers.
            raise QueryError(
                f"{op} on {key!r}: {operand!r} is stored tagged (beyond int64, or NaN/Infinity) "
                "and cannot be compared by order; use $eq, $ne or $in"
            )
        return value
    if op in _LISTS:
        if not isinstance(operand, list | tuple):
            raise QueryError(f"{op} on {key!r} needs a list, got {operand!r}")
        return [_value(item, is_path, structural, key) for item in operand]
    if op == "$exists":
        if not isinstance(operand, bool | int):
            raise QueryError(f"$exists on {key!r} needs true or false, got {operand!r}")
        return bool(operand)
    if op == "$regex":
        if not isinstance(operand, str):
            raise QueryError(f"$regex on {key!r} needs a pattern string, got {operand!r}")
        if is_path and operand.startswith("^/"):
            # Stored paths have no leading "/"; users anchor at "/".
            return "^" + operand[2:]
        return operand
    if op == "$options":
        if not isinstance(operand, str):
            raise QueryError(f"$options on {key!r} needs a string, got {operand!r}")
        return operand
    if op == "$not":
        if isinstance(operand, str):
            return _operator("$regex", operand, key, field, is_path, structural, element)
        if not _is_operator_dict(operand):
            raise QueryError(f"$not on {key!r} needs operators, like {{'$gt': 5}}, got {operand!r}")
        return _condition(operand, key, field, is_path, element)
    if op == "$size":
        if isinstance(operand, bool) or not isinstance(operand, int) or operand < 0:
            raise QueryError(f"$size on {key!r} needs a non-negative integer, got {operand!r}")
        return operand
    if op in ("$type", "$mod"):
        return operand
    if op == "$elemMatch":
        if not isinstance(operand, dict) or not operand:
            raise QueryError(f"$elemMatch on {key!r} needs a query document, got {operand!r}")
        if _is_operator_dict(operand) and not set(operand) & _LOGICAL:
            return _condition(operand, key, field, is_path, element=True)
        return _filter(operand, _element_field)
    raise QueryError(
        f"unknown query operator {op!r} on {key!r}; use one of {', '.join(QUERY_OPERATORS)}"
    )


def _filter(query: Any, field_of: Any) -> dict[str, Any]:
    if not isinstance(query, dict):
        raise QueryError(f"a query is a JSON object, got {query!r}")
    out: dict[str, Any] = {}
    for key, value in query.items():
        if isinstance(key, str) and key in _LOGICAL:
            if not isinstance(value, list | tuple) or not value:
                raise QueryError(f"{key} needs a non-empty list of queries, got {value!r}")
            out[key] = [_filter(item, field_of) for item in value]
        elif key == "$comment":
            out[key] = value
        elif isinstance(key, str) and key.startswith("$"):
            raise QueryError(
                f"unknown top-level query operator {key!r}; use $and, $or, $nor, or field "
                f"conditions (for an attribute whose key starts with '$', write '@{key}')"
            )
        else:
            field, is_path = field_of(key)
            if field in out:
                raise QueryError(f"query names {field!r} twice (as {key!r}); combine with $and")
            out[field] = _condition(value, key, field, is_path)
    return out


def to_mongo_filter(query: dict[str, Any] | None) -> dict[str, Any]:
    """Translate a user query on node documents into a MongoDB filter.

    Parameters
    ----------
    query
        Keys are attribute paths (``"spam/eggs"``, ``"a.b"`` being one key) or
        structural fields (:data:`STRUCTURAL_FIELDS`; ``path`` and ``parent``
        values are node paths with a leading ``/``); values are JSON literals
        or MongoDB operator documents (``{"$gt": 5}``); ``$and``, ``$or`` and
        ``$nor`` combine queries.

    Raises
    ------
    QueryError
        For unknown operators, malformed operands or attribute paths.
    """
    return _filter(query or {}, query_field)


def node_filter(
    query: dict[str, Any] | None = None, under: str | None = None, node_type: str | None = None
) -> dict[str, Any]:
    """The MongoDB filter on node documents for a Tree query.

    Parameters
    ----------
    query
        A Tree query (see :func:`to_mongo_filter`).
    under
        Only nodes strictly below this node path (``"/"``: every node but the root).
    node_type
        ``"group"`` or ``"array"``.
    """
    parts = [to_mongo_filter(query)]
    if under is not None:
        parts.append(strictly_below(parse_node_path(under)))
    if node_type is not None:
        if node_type not in ("group", "array"):
            raise QueryError(f"node_type must be 'group' or 'array', got {node_type!r}")
        parts.append({"node_type": node_type})
    return all_of(*parts)


def all_of(*filters: dict[str, Any]) -> dict[str, Any]:
    """Filters combined with "and"; a plain merge keeps simple queries simple for the planner."""
    merged: dict[str, Any] = {}
    rest: list[dict[str, Any]] = []
    for item in filters:
        if any(key in merged for key in item):
            rest.append(item)
        else:
            merged.update(item)
    return {"$and": [merged, *rest]} if rest else merged


def _number(op: str, key: str, operand: Any) -> Any:
    ok = (isinstance(operand, int) and not isinstance(operand, bool) and -_INT64 <= operand < _INT64) or (
        isinstance(operand, float) and math.isfinite(operand)
    )
    if not ok:
        raise QueryError(f"{op} on {key!r} needs a finite number within int64, got {operand!r}")
    return operand


def _encoded(op: str, key: str, operand: Any) -> Any:
    try:
        return encode_value(operand, key)
    except InvalidMetadataError as exc:
        raise QueryError(f"{op}: {exc}") from None


def _each(op: str, key: str, operand: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    unknown = set(operand) - allowed
    if unknown:
        raise QueryError(f"{op} on {key!r}: unknown modifier(s) {sorted(unknown)}; use {sorted(allowed)}")
    if "$each" not in operand or not isinstance(operand["$each"], list | tuple):
        raise QueryError(f"{op} on {key!r}: modifiers need '$each' with a list")
    out: dict[str, Any] = {"$each": [_encoded(op, key, item) for item in operand["$each"]]}
    for name in ("$slice", "$position"):
        if name in operand:
            value = operand[name]
            if isinstance(value, bool) or not isinstance(value, int):
                raise QueryError(f"{op} on {key!r}: {name} needs an integer, got {value!r}")
            out[name] = value
    if "$sort" in operand:
        order = operand["$sort"]
        if order in (1, -1) and not isinstance(order, bool):
            out["$sort"] = order
        elif isinstance(order, dict) and all(v in (1, -1) for v in order.values()):
            out["$sort"] = {_element_field(k)[0]: v for k, v in order.items()}
        else:
            raise QueryError(f"{op} on {key!r}: $sort needs 1, -1 or {{sub-path: 1 or -1}}, got {order!r}")
    return out


def _update_operand(op: str, key: str, operand: Any) -> Any:
    if op == "$set":
        return _encoded(op, key, operand)
    if op == "$unset":
        return ""
    if op in ("$inc", "$mul"):
        return _number(op, key, operand)
    if op in ("$min", "$max"):
        encoded = _encoded(op, key, operand)
        if isinstance(encoded, (dict, list)):
            raise QueryError(f"{op} on {key!r} needs a number or string within MongoDB's range, got {operand!r}")
        return encoded
    if op in ("$push", "$addToSet"):
        if isinstance(operand, dict) and any(isinstance(k, str) and k.startswith("$") for k in operand):
            allowed = _PUSH_MODIFIERS if op == "$push" else frozenset({"$each"})
            return _each(op, key, operand, allowed)
        return _encoded(op, key, operand)
    if op == "$pull":
        if isinstance(operand, dict) and operand:
            if _is_operator_dict(operand):
                return _condition(operand, key, "", False, element=True)
            # A document: matches elements by their sub-fields, as in MongoDB.
            return _filter(operand, _element_field)
        return _encoded(op, key, operand)
    if op == "$rename":
        if not isinstance(operand, str):
            raise QueryError(f"$rename of {key!r} needs the new attribute path as a string, got {operand!r}")
        return attribute_field(parse_attribute_path(operand))
    raise AssertionError(op)


def to_mongo_update(ops: dict[str, Any]) -> dict[str, Any]:
    """Translate update operators on attribute paths into a MongoDB update.

    Parameters
    ----------
    ops
        ``{operator: {attribute path: operand}}`` with operators from
        :data:`UPDATE_OPERATORS`; ``$push`` takes ``$each``, ``$slice``,
        ``$position`` and ``$sort``, ``$addToSet`` takes ``$each``; ``$pull``
        takes a value or a condition; ``$rename`` a new attribute path.

    Returns
    -------
    dict
        The MongoDB update, without the ``version``/``updated_at`` bookkeeping.

    Raises
    ------
    QueryError
        For unknown operators, malformed operands or attribute paths.
    """
    if not isinstance(ops, dict) or not ops:
        raise QueryError(f"an update is a non-empty JSON object of operators, got {ops!r}")
    update: dict[str, dict[str, Any]] = {}
    for op, fields in ops.items():
        if op not in UPDATE_OPERATORS:
            hint = " (wrap plain values in {'$set': {...}})" if not str(op).startswith("$") else ""
            raise QueryError(f"unknown update operator {op!r}{hint}; use one of {', '.join(UPDATE_OPERATORS)}")
        if not isinstance(fields, dict) or not fields:
            raise QueryError(f"{op} needs a non-empty object of attribute paths, got {fields!r}")
        out: dict[str, Any] = {}
        for key, operand in fields.items():
            if not isinstance(key, str):
                raise QueryError(f"{op}: attribute paths are strings, got {key!r}")
            out[attribute_field(parse_attribute_path(key))] = _update_operand(op, key, operand)
        update[op] = out
    return update


def check_update_size(update: dict[str, Any], what: str) -> int:
    """Raise before writing if an update's values cannot fit a node document; else their size.

    An update carrying more than MongoDB's 16 MiB document limit can never
    apply; the error names the largest attribute. Values nesting deeper than
    MongoDB allows at their path are refused too. The bytes the update
    carries are returned, to bound the document it grows.
    """
    largest, largest_size, total = "", 0, 0
    for op, fields in update.items():
        if not isinstance(fields, dict):
            continue
        for field, operand in fields.items():
            depth = field.count(".") + 1  # the node document + one per key
            if _stored_nesting(op, operand) + depth > MAX_NESTING:
                raise InvalidMetadataError(
                    f"{what}: {op} of attribute {_display(field)!r} nests deeper than "
                    f"MongoDB's {MAX_NESTING} levels"
                )
            size = len(bson.encode({"v": operand}))
            total += size
            if size > largest_size:
                largest, largest_size = _display(field), size
    if total > MAX_DOCUMENT_BYTES:
        raise DocumentTooLargeError(
            f"{what}: the update carries {total / 2**20:.1f} MiB, over MongoDB's 16 MiB document "
            f"limit; its largest value is attribute {largest!r} ({largest_size / 2**20:.1f} MiB)"
        )
    return total


def _stored_nesting(op: str, operand: Any) -> int:
    """How deep the value an operator stores at its field nests."""
    if op == "$set":
        return nesting(operand)
    if op in ("$push", "$addToSet"):
        items = operand["$each"] if isinstance(operand, dict) and "$each" in operand else [operand]
        return nesting(list(items))  # the array at the field holds the items
    return 0


def _display(field: str) -> str:
    """The user's attribute path of an escaped ``attributes.…`` field."""
    keys = field.split(".")
    if keys and keys[0] == "attributes":
        keys = keys[1:]
    return format_attribute_path([unescape_key(k) for k in keys])
