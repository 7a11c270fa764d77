"""Translate zarr metadata JSON to MongoDB node documents and back.

This module is pure (no I/O). It fixes the document schema of DESIGN.md:

* attribute and metadata keys are escaped reversibly so that every JSON key
  can be addressed by a MongoDB update path (``%``, ``.``, ``$``, NUL, and the
  empty key);
* keys and strings holding lone surrogates (valid JSON escapes, invalid
  UTF-8) escape them as ``%uXXXX``;
* values MongoDB cannot hold as JSON gives them (integers beyond int64, NaN and
  the infinities, strings with lone surrogates) are stored as one-key tagged documents whose tag cannot be
  produced by escaping (a stored key starting with ``%`` is always followed by
  a two-digit code);
* MongoDB's document size and nesting limits are checked here, before any
  write, because neither test backend enforces them.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import bson

from mongozarr.errors import DocumentTooLargeError, InvalidMetadataError

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_NESTING",
    "METADATA_NAMES",
    "bump_version",
    "check_document",
    "decode_value",
    "encode_value",
    "escape_key",
    "escape_path",
    "has_unsafe_segment",
    "nesting",
    "node_problem",
    "parse_metadata",
    "path_fields",
    "render_metadata",
    "unescape_key",
]

#: MongoDB's hard limit on one BSON document.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
#: MongoDB's limit on nested documents and arrays.
MAX_NESTING = 100

#: Metadata key names and the zarr format each belongs to.
METADATA_NAMES: dict[str, int] = {
    "zarr.json": 3, ".zarray": 2, ".zgroup": 2, ".zattrs": 2, ".zmetadata": 2}

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INT_TAG = "%int"
_FLOAT_TAG = "%float"
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_STR_TAG = "%str"
_ESCAPES = {"%": "%25", ".": "%2E", "$": "%24", "\0": "%00"}
_NEEDS_ESCAPE = re.compile(r"[%.$\x00\ud800-\udfff]")
_ESCAPED = re.compile(r"%(25|2E|24|00|u[0-9A-F]{4})")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _escape_char(char: str) -> str:
    # Lone surrogates (legal in JSON text, not in UTF-8 or BSON) become %uXXXX.
    if "\ud800" <= char <= "\udfff":
        return f"%u{ord(char):04X}"
    return _ESCAPES.get(char, char)


def _unescape_match(match: re.Match[str]) -> str:
    code = match.group(1)
    return chr(int(code[1:], 16)) if code.startswith("u") else chr(int(code, 16))


def escape_key(key: str) -> str:
    """Escape one JSON key so MongoDB can store it and address it in a path."""
    if key == "":
        return "%"
    if _NEEDS_ESCAPE.search(key) is None:
        return key
    return "".join(_escape_char(char) for char in key)


def unescape_key(key: str) -> str:
    """Invert :func:`escape_key`."""
    if key == "%":
        return ""
    if "%" not in key:
        return key
    return _ESCAPED.sub(_unescape_match, key)


def escape_path(keys: list[str]) -> str:
    """Join attribute keys into an escaped MongoDB dotted path."""
    return ".".join(escape_key(k) for k in keys)


def encode_value(value: Any, where: str = "") -> Any:
    """Turn a JSON value into a BSON-safe value that decodes back exactly.

    ``where`` names the value's position for error messages.
    """
    if isinstance(value, str):
        if _SURROGATE.search(value) is None:
            return value
        return {_STR_TAG: "".join(_escape_char(c) if c == "%" or "\ud800" <= c <= "\udfff" else c for c in value)}
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            return value
        return {_INT_TAG: str(value)}
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {_FLOAT_TAG: "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidMetadataError(f"key {key!r} at {where or 'top level'} is not a string")
            out[escape_key(key)] = encode_value(item, f"{where}/{key}" if where else key)
        return out
    if isinstance(value, list | tuple):
        return [encode_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise InvalidMetadataError(f"value at {where!r} has type {type(value).__name__}, not JSON")


def decode_value(value: Any) -> Any:
    """Invert :func:`encode_value`."""
    if isinstance(value, dict):
        if len(value) == 1:
            if _INT_TAG in value:
                return int(value[_INT_TAG])
            if _FLOAT_TAG in value:
                return _SPECIAL_FLOATS[value[_FLOAT_TAG]]
            if _STR_TAG in value:
                return unescape_key(value[_STR_TAG])
        return {unescape_key(k): decode_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_value(item) for item in value]
    return value


def nesting(value: Any) -> int:
    """Depth of nested documents/arrays in ``value`` (a scalar is 0), as MongoDB counts it."""
    if isinstance(value, dict):
        return 1 + max((nesting(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((nesting(v) for v in value), default=0)
    return 0


def check_document(document: dict[str, Any], what: str) -> None:
    """Raise if ``document`` breaks MongoDB's nesting or size limits.

    The error names the attribute (or metadata) key responsible, so a user can
    find it; nothing has been written when this raises.
    """
    for field in ("attributes", "metadata"):
        for key, value in (document.get(field) or {}).items():
            # +2: the node document itself and the attributes sub-document.
            if nesting(value) + 2 > MAX_NESTING:
                raise InvalidMetadataError(
                    f"{what}: {field[:-1] if field == 'attributes' else field} key "
                    f"{unescape_key(key)!r} nests deeper than MongoDB's {MAX_NESTING} levels"
                )
    size = len(bson.encode(document))
    if size <= MAX_DOCUMENT_BYTES:
        return
    culprit, culprit_size = "", 0
    for field in ("attributes", "metadata"):
        for key, value in (document.get(field) or {}).items():
            item_size = len(bson.encode({"v": value}))
            if item_size > culprit_size:
                culprit, culprit_size = f"{field[:-1] if field == 'attributes' else field} key {unescape_key(key)!r}", item_size
    raise DocumentTooLargeError(
        f"{what}: the node document would be {size / 2**20:.1f} MiB, over MongoDB's "
        f"16 MiB limit; its largest part is {culprit} ({culprit_size / 2**20:.1f} MiB)"
    )


def bump_version() -> dict[str, Any]:
    """The update operators every write of a node document carries.

    ``version`` + 1 and the server's time in ``updated_at``: compare-and-set
    and watchers that poll rely on both.
    """
    return {"$inc": {"version": 1}, "$currentDate": {"updated_at": True}}


def path_fields(path: str) -> dict[str, Any]:
    """The structural fields of the node document at ``path``."""
    if path == "":
        return {"parent": None, "name": "", "depth": 0}
    parent, _, name = path.rpartition("/")
    return {"parent": parent, "name": name, "depth": path.count("/") + 1}


def parse_metadata(name: str, data: bytes) -> dict[str, Any] | None:
    """Parse the bytes written at metadata key ``name``.

    Returns the JSON object when it is zarr metadata a node document can
    hold, or ``None`` when the bytes must be kept raw (not JSON, not an
    object, or not of the format the key name implies).
    """
    try:
        content = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(content, dict):
        return None
    if name == "zarr.json":
        ok = content.get("zarr_format") == 3 and content.get("node_type") in ("group", "array")
    elif name == ".zattrs":
        ok = True
    elif name == ".zmetadata":
        ok = content.get("zarr_consolidated_format") == 1
    else:
        ok = content.get("zarr_format") == 2
    return content if ok else None


def metadata_content(document: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The JSON object of metadata key ``name`` held by a node document.

    Returns ``None`` when the document does not hold that key. A consolidated
    group's ``consolidated_metadata`` comes back without its entries: they are
    filled in live by :func:`consolidated_entries`, never stored.
    """
    fmt = document.get("zarr_format")
    node_type = document.get("node_type")
    if METADATA_NAMES.get(name) != fmt or raw_metadata(document, name) is not None:
        return None
    if name == ".zattrs":
        if "attributes" not in document:
            return None
        return decode_value(document["attributes"])
    if name == ".zmetadata":
        return {"zarr_consolidated_format": 1, "metadata": {}} if document.get("consolidated") else None
    if node_type is None or (fmt == 2 and (name == ".zarray") != (node_type == "array")):
        return None
    content: dict[str, Any] = {"zarr_format": fmt}
    if fmt == 3:
        content["node_type"] = node_type
    content.update(decode_value(document.get("metadata") or {}))
    if fmt == 3 and "attributes" in document:
        content["attributes"] = decode_value(document["attributes"])
    return content


def raw_metadata(document: dict[str, Any], name: str) -> bytes | None:
    """Bytes stored as they were at metadata key ``name`` (not zarr metadata)."""
    value = (document.get("raw") or {}).get(escape_key(name))
    return None if value is None else bytes(value)


def render_metadata(document: dict[str, Any], name: str) -> bytes | None:
    """Synthesize the bytes of metadata key ``name`` from a node document."""
    raw = raw_metadata(document, name)
    if raw is not None:
        return raw
    content = metadata_content(document, name)
    return None if content is None else json.dumps(content, allow_nan=True).encode()


def is_consolidated(document: dict[str, Any]) -> bool:
    """Whether a group asked for consolidated metadata (served live)."""
    if document.get("zarr_format") == 2:
        return bool(document.get("consolidated"))
    return isinstance((document.get("metadata") or {}).get("consolidated_metadata"), dict)


def consolidated_entries(path: str, descendants: list[dict[str, Any]], zarr_format: int) -> dict[str, Any]:
    """The consolidated metadata of the group at ``path``, built from its descendants' documents.

    Keys are relative to the group, as zarr writes them: node paths for v3,
    metadata keys for v2.
    """
    cut = len(path) + 1 if path else 0
    entries: dict[str, Any] = {}
    for doc in sorted(descendants, key=lambda d: d["_id"]):
        relative = doc["_id"][cut:] if doc["_id"] != path else ""
        if zarr_format == 3 and not relative:
            continue
        if zarr_format == 3:
            content = metadata_content(doc, "zarr.json")
            if content is None:
                continue
            if content["node_type"] == "group":
                content["consolidated_metadata"] = {"kind": "inline", "must_understand": False, "metadata": {}}
            entries[relative] = content
        else:
            for name in metadata_names(doc):
                if name != ".zmetadata":
                    entries[f"{relative}/{name}" if relative else name] = metadata_content(doc, name)
    return entries


def metadata_names(document: dict[str, Any]) -> list[str]:
    """The metadata key names a node document holds."""
    names = [unescape_key(name) for name in document.get("raw") or {}]
    if document.get("zarr_format") == 3:
        return names + ["zarr.json"] if document.get("node_type") else names
    if document.get("zarr_format") != 2:
        return names
    if document.get("node_type") == "array":
        names.append(".zarray")
    elif document.get("node_type") == "group":
        names.append(".zgroup")
    if "attributes" in document:
        names.append(".zattrs")
    if document.get("consolidated"):
        names.append(".zmetadata")
    return names


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values that treats NaN as equal to NaN."""
    if a == b:
        return True
    return json.dumps(a, sort_keys=True, allow_nan=True) == json.dumps(b, sort_keys=True, allow_nan=True)


def has_unsafe_segment(path: str) -> bool:
    """Whether a ``/``-separated path has an empty, ``.`` or ``..`` segment (or a leading ``/``)."""
    return any(segment in ("", ".", "..") for segment in path.split("/"))


def node_problem(document: dict[str, Any]) -> str | None:
    """Why a node document cannot be read as a zarr node, or ``None`` if it can.

    Catches what a crash or a hand edit from the Mongo shell can leave:
    structural fields that disagree with the path, ``attributes`` that are not
    an object, array metadata zarr cannot parse. Whole-tree operations use it
    to skip (and name) such a node instead of failing on it.
    """
    path = document.get("_id")
    if not isinstance(path, str):
        return f"_id is {type(path).__name__}, not a path string"
    if path != "" and has_unsafe_segment(path):
        return f"path {path!r} has an empty, '.' or '..' component"
    for field, expected in path_fields(path).items():
        if document.get(field) != expected:
            return f"{field} is {document.get(field)!r}, the path implies {expected!r}"
    if "attributes" in document and not isinstance(document["attributes"], dict):
        return f"attributes is {type(document['attributes']).__name__}, not an object"
    node_type = document.get("node_type")
    if node_type not in ("group", "array", None):
        return f"node_type is {node_type!r}, not 'group' or 'array'"
    if document.get("zarr_format") not in (2, 3, None):
        return f"zarr_format is {document.get('zarr_format')!r}, not 2 or 3"
    if node_type == "array":
        from zarr.core.array import parse_array_metadata

        name = "zarr.json" if document.get("zarr_format") == 3 else ".zarray"
        try:
            parse_array_metadata(json.loads(render_metadata(document, name) or b"{}"))
        except Exception as exc:  # noqa: BLE001 (zarr raises many kinds; any means unreadable)
            return f"array metadata zarr cannot read: {exc}"
    return None
