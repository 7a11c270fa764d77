"""Atomic append: many writers grow one array without overlapping or losing rows.

An append has three steps:

1. **Reserve.** ONE ``find_one_and_update`` on the array's node document
   grows ``metadata.shape[axis]`` by the number of rows, bumps ``version``
   and ``updated_at``, and adds a record of the reserved region to the
   node document's ``pending_appends`` list::

       pending_appends: [{id: "…", axis: 0, start: 120, stop: 123,
                          owner: "host:pid", reserved_at: ISODate}]

   The filter also requires every other dimension to match the data, so a
   concurrent resize of another axis makes the append fail instead of
   writing a misshapen region. MongoDB applies the update atomically, so
   concurrent appenders get disjoint regions, in the order the server saw
   them.
2. **Write** the data into exactly that region. Chunks (shards, if the array
   is sharded) wholly inside the region are written without reading. The
   first and last chunk along ``axis`` may also hold rows of other
   appenders; zarr writes those by read-modify-write, so each such partial
   chunk is written under a short lease (:func:`mongozarr.lease`) named
   ``<path>#append/<axis>/<chunk index>``, which serialises the appenders
   sharing it. Leases are taken one at a time, so they cannot deadlock.
3. **Complete.** The record is pulled from ``pending_appends``.

What readers see: between steps 1 and 2 the array already has its new
shape, and the reserved rows read as the fill value. If a writer crashes
between them, the fill values stay and so does its ``pending_appends``
record; :func:`incomplete_appends` lists those regions and
:func:`forget_append` drops a record once the region is rewritten or
accepted.

Appending along two different axes of one array at the same time is
refused by the shape filter of step 1 (one of the two fails), not merged.

On MongoDB servers the record's ``start``/``stop`` are computed inside the
reservation itself (an update pipeline reading the old extent). mongomock
cannot evaluate that pipeline, so there the reservation is a
compare-and-set on the extent that was read, retried when another appender
got in first; the record is still written by the same single update.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pymongo import ReturnDocument
from zarr.core.array import AsyncArray, parse_array_metadata
from zarr.core.sync import sync

from mongozarr.coordination.lease import DEFAULT_TTL, lease_async
from mongozarr.documents import bump_version, decode_value, render_metadata
from mongozarr.errors import NodeNotFoundError, NotAnArrayError
from mongozarr.layout import PENDING_APPENDS
from mongozarr.storage.faults import reading, writing
from mongozarr.storage.store import MongoStore

if TYPE_CHECKING:
    import numpy.typing as npt
    import zarr

__all__ = [
    "AppendRegion",
    "append",
    "append_async",
    "forget_append",
    "forget_append_async",
    "incomplete_appends",
    "incomplete_appends_async",
]

#: How long appenders wait for a partial chunk another appender is writing.
DEFAULT_CHUNK_WAIT = 120.0


@dataclass(frozen=True)
class AppendRegion:
    """The region one append reserved (and, once complete, wrote).

    Attributes
    ----------
    path
        The array's node path.
    axis
        The axis that grew.
    start, stop
        The half-open range of indices along ``axis``.
    shape
        The array's shape right after this reservation.
    id
        The reservation's id (as in ``pending_appends``).
    """

    path: str
    axis: int
    start: int
    stop: int
    shape: tuple[int, ...]
    id: str

    @property
    def selection(self) -> tuple[slice, ...]:
        """The region as a zarr selection (full extent on every other axis)."""
        return tuple(
            slice(self.start, self.stop) if d == self.axis else slice(0, n) for d, n in enumerate(self.shape)
        )


def append(
    array: zarr.Array[Any],
    data: npt.ArrayLike,
    axis: int = 0,
    *,
    lease_ttl: float = DEFAULT_TTL,
    chunk_wait: float = DEFAULT_CHUNK_WAIT,
) -> AppendRegion:
    """Append ``data`` to ``array`` along ``axis``; safe with concurrent appenders.

    Parameters
    ----------
    array
        A zarr array stored in a :class:`~mongozarr.MongoStore`. Its cached
        shape may be stale: the reservation reads the current one.
    data
        Values with the array's number of dimensions and its current extent
        on every axis but ``axis``.
    axis
        The axis to grow.
    lease_ttl
        Lease duration for writing a chunk shared with other appenders.
    chunk_wait
        How long to wait for such a chunk before giving up.

    Returns
    -------
    AppendRegion
        Where the data went. ``array`` itself keeps its old cached shape;
        re-open it to see the new one.

    Raises
    ------
    ValueError
        If ``data`` does not fit the array's current shape.
    LeaseTimeout
        If a shared chunk stayed leased for ``chunk_wait`` seconds; the region
        is then left reserved and listed by :func:`incomplete_appends`.
    """
    return sync(append_async(array.async_array, data, axis, lease_ttl=lease_ttl, chunk_wait=chunk_wait))


@writing
async def append_async(
    array: AsyncArray[Any],
    data: npt.ArrayLike,
    axis: int = 0,
    *,
    lease_ttl: float = DEFAULT_TTL,
    chunk_wait: float = DEFAULT_CHUNK_WAIT,
) -> AppendRegion:
    """Async form of :func:`append`, for a ``zarr.AsyncArray``."""
    store = array.store_path.store
    if not isinstance(store, MongoStore):
        raise TypeError(f"append needs an array in a MongoStore, not in {type(store).__name__}")
    store.check_writable()
    values = np.asarray(data)
    if values.ndim != array.ndim:
        raise ValueError(f"data has {values.ndim} dimensions, the array {array.ndim}")
    axis = _normalize_axis(axis, array.ndim)
    path = array.store_path.path
    doc = await _reserve(store, path, values.shape, axis)
    region = _region_of(doc, path)
    if region.stop > region.start:
        await _write_region(store, array, doc, region, values, lease_ttl, chunk_wait)
    await _complete(store, path, region.id)
    return region


def _normalize_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for {ndim} dimensions")
    return axis % ndim


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def _reserve(store: MongoStore, path: str, shape: tuple[int, ...], axis: int) -> dict[str, Any]:
    """Grow the shape and record the region, atomically; the node document after."""
    nodes = store.nodes()
    query: dict[str, Any] = {
        "_id": path,
        "node_type": "array",
        "metadata.shape": {"$size": len(shape)},
        **{f"metadata.shape.{d}": n for d, n in enumerate(shape) if d != axis},
    }
    rows = shape[axis]
    record_id = uuid.uuid4().hex
    # Only this reservation's record comes back, however many others are pending.
    mine = {"$elemMatch": {"id": record_id}}
    projection = {"zarr_format": 1, "node_type": 1, "metadata": 1, PENDING_APPENDS: mine}
    if not (await store.capabilities()).pipeline_updates:
        doc = await _reserve_by_compare_and_set(nodes, query, projection, record_id, axis, rows)
    else:
        doc = await nodes.find_one_and_update(
            query,
            _reservation_pipeline(record_id, axis, rows, len(shape)),
            projection=projection,
            return_document=ReturnDocument.AFTER,
        )
    if doc is None:
        raise await _why_not_reserved(nodes, path, shape, axis)
    return doc


def _reservation_pipeline(record_id: str, axis: int, rows: int, ndim: int) -> list[dict[str, Any]]:
    """The update pipeline of a reservation: every expression reads the old document."""
    current = {"$arrayElemAt": ["$metadata.shape", axis]}
    grown = {"$add": [current, rows]}
    shape_parts: list[Any] = []
    if axis > 0:
        shape_parts.append({"$slice": ["$metadata.shape", axis]})
    shape_parts.append([grown])
    if axis + 1 < ndim:
        shape_parts.append({"$slice": ["$metadata.shape", axis + 1, ndim]})
    record = {
        "id": {"$literal": record_id},
        "axis": {"$literal": axis},
        "start": current,
        "stop": grown,
        "owner": {"$literal": _owner()},
        "reserved_at": "$$NOW",
    }
    return [
        {
            "$set": {
                "metadata.shape": {"$concatArrays": shape_parts},
                PENDING_APPENDS: {"$concatArrays": [{"$ifNull": [f"${PENDING_APPENDS}", []]}, [record]]},
                "version": {"$add": ["$version", 1]},
                "updated_at": "$$NOW",
            }
        }
    ]


async def _reserve_by_compare_and_set(
    nodes: Any, query: dict[str, Any], projection: dict[str, Any], record_id: str, axis: int, rows: int
) -> dict[str, Any] | None:
    """mongomock's reservation: read the extent, then grow it only if unchanged.

    The update carries the whole record, like the server pipeline; a writer
    that lost the race to another appender reads again and retries.
    """
    while True:
        current = await nodes.find_one(query, {"metadata.shape": 1})
        if current is None:
            return None
        start = int(current["metadata"]["shape"][axis])
        now = datetime.datetime.now(datetime.UTC)
        record = {"id": record_id, "axis": axis, "start": start, "stop": start + rows, "owner": _owner(),
                  "reserved_at": now}
        doc = await nodes.find_one_and_update(
            {**query, f"metadata.shape.{axis}": start},
            {"$inc": {f"metadata.shape.{axis}": rows, "version": 1}, "$set": {"updated_at": now},
             "$push": {PENDING_APPENDS: record}},
            projection=projection,
            return_document=ReturnDocument.AFTER,
        )
        if doc is not None:
            return doc


async def _why_not_reserved(nodes: Any, path: str, shape: tuple[int, ...], axis: int) -> Exception:
    doc = await nodes.find_one({"_id": path}, {"node_type": 1, "metadata.shape": 1})
    if doc is None:
        return NodeNotFoundError(f"no array at {path!r}")
    if doc.get("node_type") != "array":
        return NotAnArrayError(f"node {path!r} is a {doc.get('node_type')}, not an array")
    current = tuple((doc.get("metadata") or {}).get("shape") or ())
    return ValueError(
        f"cannot append data of shape {shape} along axis {axis} to array {path!r} of shape {current}: "
        "every other axis must match"
    )


def _region_of(doc: dict[str, Any], path: str) -> AppendRegion:
    (record,) = doc[PENDING_APPENDS]
    shape = tuple(int(n) for n in doc["metadata"]["shape"])
    return AppendRegion(path, int(record["axis"]), int(record["start"]), int(record["stop"]), shape, record["id"])


def _view(array: AsyncArray[Any], doc: dict[str, Any], shape: tuple[int, ...]) -> AsyncArray[Any]:
    """An array object over the stored metadata with ``shape``; nothing is written."""
    name = "zarr.json" if doc["zarr_format"] == 3 else ".zarray"
    stored = {**doc, "metadata": doc["metadata"], "attributes": {}}
    metadata = parse_array_metadata(json.loads(render_metadata(stored, name) or b"{}"))
    return AsyncArray(metadata=metadata.update_shape(shape), store_path=array.store_path, config=array.config)


async def _write_region(
    store: MongoStore,
    array: AsyncArray[Any],
    doc: dict[str, Any],
    region: AppendRegion,
    values: np.ndarray[Any, Any],
    lease_ttl: float,
    chunk_wait: float,
) -> None:
    """Write ``values`` into ``region``, serialising chunks shared with other appenders."""
    axis = region.axis
    current = _view(array, doc, region.shape)
    step = (current.shards or current.chunks)[axis]
    # Round the axis up to a chunk boundary: at the array's edge zarr would
    # count a chunk whose in-bounds rows we cover as complete and write it
    # without reading, erasing rows another appender has already put there.
    padded = list(region.shape)
    padded[axis] = -(-region.stop // step) * step
    view = _view(array, doc, tuple(padded))
    for start, stop, shared in _pieces(region.start, region.stop, step):
        selection = _along(axis, len(padded), start, stop)
        part = values[_along(axis, values.ndim, start - region.start, stop - region.start)]
        if not shared:
            await view.setitem(selection, part)
            continue
        name = f"{region.path}#append/{axis}/{start // step}"
        async with lease_async(store, name, ttl=lease_ttl, wait=chunk_wait):
            await view.setitem(selection, part)


def _along(axis: int, ndim: int, start: int, stop: int) -> tuple[slice, ...]:
    """The selection [start, stop) on ``axis`` and everything on the other axes."""
    return tuple(slice(start, stop) if d == axis else slice(None) for d in range(ndim))


def _pieces(start: int, stop: int, step: int) -> list[tuple[int, int, bool]]:
    """Split [start, stop) into (start, stop, shares_a_chunk_with_others) pieces.

    Chunks wholly inside the range belong to this append alone; a chunk the
    range covers only partly may receive rows from another appender.
    """
    pieces = []
    head_end = min(stop, -(-start // step) * step)
    if head_end > start:
        pieces.append((start, head_end, True))
    tail_start = max(head_end, stop // step * step)
    if tail_start > head_end:
        pieces.append((head_end, tail_start, False))
    if stop > tail_start:
        pieces.append((tail_start, stop, True))
    return pieces


async def _complete(store: MongoStore, path: str, record_id: str) -> None:
    await store.nodes().update_one(
        {"_id": path},
        {"$pull": {PENDING_APPENDS: {"id": record_id}}, **bump_version()},
    )


@reading
async def incomplete_appends_async(store: MongoStore, path: str) -> list[AppendRegion]:
    """Async form of :func:`incomplete_appends`."""
    path = path.strip("/")
    doc = await store.nodes().find_one({"_id": path}, {PENDING_APPENDS: 1, "metadata.shape": 1})
    if doc is None:
        raise NodeNotFoundError(f"no array at {path!r}")
    shape = tuple(int(n) for n in decode_value(doc.get("metadata") or {}).get("shape", ()))
    return [
        AppendRegion(path, int(r["axis"]), int(r["start"]), int(r["stop"]), shape, r["id"])
        for r in doc.get(PENDING_APPENDS) or []
        if r.get("start") is not None
    ]


def incomplete_appends(store: MongoStore, path: str) -> list[AppendRegion]:
    """Regions reserved at ``path`` whose data write has not completed.

    A region in flight is listed as well as one whose writer crashed; the
    ``pending_appends`` entries of the node document also tell the owner
    (``host:pid``) and ``reserved_at``. ``shape`` is the array's current shape.

    Raises
    ------
    NodeNotFoundError
        If there is no node at ``path``.
    """
    return sync(incomplete_appends_async(store, path))


@writing
async def forget_append_async(store: MongoStore, path: str, record_id: str) -> bool:
    """Async form of :func:`forget_append`."""
    store.check_writable()
    result = await store.nodes().update_one(
        {"_id": path.strip("/"), f"{PENDING_APPENDS}.id": record_id},
        {"$pull": {PENDING_APPENDS: {"id": record_id}}, **bump_version()},
    )
    return bool(result.matched_count)


def forget_append(store: MongoStore, path: str, record_id: str) -> bool:
    """Drop the pending record ``record_id`` of ``path`` (after repairing its region).

    Returns False if there was no such record.
    """
    return sync(forget_append_async(store, path, record_id))
