"""Sample hierarchies for transfer tests, and ways to compare stores."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import zarr
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import MemoryStore

#: Attribute values that are easy to lose on the way through MongoDB or JSON.
TRICKY = {
    "subject": "mouse-7",
    "a.b": {"$c": [1, 2.5, None, True]},
    "": "empty key",
    "big": 2**70,
    "nan": math.nan,
    "inf": -math.inf,
    "unicode": "naïve ✓",
}



def build(zarr_format: int) -> MemoryStore:
    """A small imaging hierarchy with tricky attributes and a partly empty array."""
    store = MemoryStore()
    attributes = {"lab": "imaging", **TRICKY}
    root = zarr.open_group(store, mode="w", zarr_format=zarr_format, attributes=attributes)
    raw_group = root.create_group("raw", attributes={"stage": "raw"})
    image = raw_group.create_array(
        "img1", shape=(6, 5), chunks=(4, 4), dtype="uint16", attributes=TRICKY
    )
    image[:] = np.arange(30, dtype="uint16").reshape(6, 5)
    sparse = root.create_array(
        "labels", shape=(8,), chunks=(2,), dtype="float32", fill_value=math.nan
    )
    sparse[2:4] = [1.5, -2.0]  # the other chunks stay unwritten
    return store


async def snapshot_async(store: Any) -> dict[str, Any]:
    """Every key of a store: chunk bytes, and metadata as JSON (consolidated left out)."""
    out: dict[str, Any] = {}
    async for key in store.list():
        if key.rpartition("/")[2] == ".zmetadata":
            continue
        value = (await store.get(key, default_buffer_prototype())).to_bytes()
        if key.rpartition("/")[2] in ("zarr.json", ".zarray", ".zgroup", ".zattrs"):
            document = json.loads(value, parse_constant=lambda token: ("%constant", token))
            document.pop("consolidated_metadata", None)
            out[key] = document
        else:
            out[key] = value
    return out


def snapshot(store: Any) -> dict[str, Any]:
    """:func:`snapshot_async` from synchronous code."""
    return sync(snapshot_async(store))


def as_json(attributes: Any) -> str:
    """Attributes as canonical JSON text (NaN equals NaN there)."""
    return json.dumps(dict(attributes), sort_keys=True)


def check_hierarchy(store: Any) -> None:
    """The data and attributes of :func:`build`, read back through zarr."""
    root = zarr.open_group(store, mode="r", use_consolidated=False)
    assert as_json(root.attrs) == as_json({"lab": "imaging", **TRICKY})
    image = root["raw/img1"]
    np.testing.assert_array_equal(image[:], np.arange(30, dtype="uint16").reshape(6, 5))
    assert as_json(image.attrs) == as_json(TRICKY)
    expected = np.full(8, np.nan, dtype="float32")
    expected[2:4] = [1.5, -2.0]
    np.testing.assert_array_equal(root["labels"][:], expected)


def thousand_chunks() -> MemoryStore:
    store = MemoryStore()
    root = zarr.open_group(store, mode="w", attributes={"kind": "many chunks"})
    array = root.create_array(
        "tiles", shape=(1000,), chunks=(1,), dtype="uint8", attributes={"n": 1000}
    )
    array[:] = np.arange(1000) % 251 + 1  # no chunk equals the fill value, so all are stored
    return store
