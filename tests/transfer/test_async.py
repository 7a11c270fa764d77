"""copy_async / export_archive_async / import_archive_async inside a running event loop.

The sync forms run on zarr's own loop; these run on the caller's, as in a
notebook or an async service. Each test is an ``async def``, so a sync call
hidden anywhere on the way (zarr's ``sync()`` refuses to run inside a loop)
fails it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import zarr.api.asynchronous as zarr_async
from zarr.core.buffer import default_buffer_prototype
from zarr.storage import LocalStore, MemoryStore, ZipStore

import mongozarr
from mongozarr import CopyEvent, MongoStore
from mongozarr.storage import open_store
from tests.transfer.samples import build, snapshot_async


@pytest.fixture(params=["mock", "wire"])
def mongo_uri(request: pytest.FixtureRequest) -> str:
    """A fresh database on mongomock, then on the wire server."""
    return request.getfixturevalue(f"{request.param}_uri")


@pytest.fixture(params=[2, 3])
def original(request: pytest.FixtureRequest) -> MemoryStore:
    # Built with zarr's sync API, so outside the test's event loop.
    return build(request.param)


async def test_copy_async_between_mongodb_and_a_directory(
    original: MemoryStore, mongo_uri: str, tmp_path: Path
) -> None:
    asyncio.get_running_loop()  # the point: a loop is running here
    events: list[CopyEvent] = []
    into_mongo = await mongozarr.copy_async(original, mongo_uri, progress=events.append)
    expected = await snapshot_async(original)
    assert into_mongo.verified and into_mongo.copied == into_mongo.keys == len(expected)
    assert events[0].kind == "plan" and events[-1].kind == "verified"

    out = await mongozarr.copy_async(mongo_uri, str(tmp_path / "copy"))
    assert out.verified and out.copied == len(expected)
    assert await snapshot_async(LocalStore(tmp_path / "copy", read_only=True)) == expected
    again = await mongozarr.copy_async(mongo_uri, str(tmp_path / "copy"))
    assert again.skipped == len(expected) and again.copied == 0


@pytest.mark.parametrize("kind", ["zip", "dir"])
async def test_export_archive_async_writes_a_consolidated_archive(
    original: MemoryStore, mongo_uri: str, tmp_path: Path, kind: str
) -> None:
    await mongozarr.copy_async(original, mongo_uri)
    target = tmp_path / ("at-rest.zip" if kind == "zip" else "at-rest")
    # What is there goes: an export writes afresh.
    leftover = MemoryStore()
    await leftover.set("stale/chunk", default_buffer_prototype().buffer.from_bytes(b"stale"))
    assert (await mongozarr.copy_async(leftover, str(target))).copied == 1

    report = await mongozarr.export_archive_async(mongo_uri, target)
    assert report.verified
    archive = ZipStore(target, mode="r") if kind == "zip" else LocalStore(target, read_only=True)
    try:
        assert await snapshot_async(archive) == await snapshot_async(original)
        zarr_format = 3 if await archive.exists("zarr.json") else 2
        root = await zarr_async.open_consolidated(archive, mode="r", zarr_format=zarr_format)
        consolidated = root.metadata.consolidated_metadata
        assert consolidated is not None
        assert set(consolidated.flattened_metadata) >= {"raw", "raw/img1", "labels"}
    finally:
        archive.close()


async def test_import_archive_async_brings_an_archive_into_mongodb(
    original: MemoryStore, mongo_uri: str, tmp_path: Path
) -> None:
    await mongozarr.copy_async(original, mongo_uri + "#source")
    archive = tmp_path / "at-rest.zip"
    await mongozarr.export_archive_async(mongo_uri + "#source", archive)

    report = await mongozarr.import_archive_async(str(archive), mongo_uri)
    assert report.verified and (report.stripped or report.dropped)
    store = MongoStore(mongo_uri)
    assert await snapshot_async(store) == await snapshot_async(original)
    found = await store.nodes().find({"attributes.subject": "mouse-7"}).to_list()
    assert {doc["_id"] for doc in found} == {"", "raw/img1"}

    again = await mongozarr.import_archive_async(str(archive), MongoStore(mongo_uri))
    assert again.copied == 0 and again.skipped == again.keys
    with pytest.raises(ValueError, match="MongoDB destination"):
        await mongozarr.import_archive_async(str(archive), str(tmp_path / "dir"))


async def test_open_store_urls_are_closed_after_an_async_copy(
    original: MemoryStore, tmp_path: Path
) -> None:
    archive = tmp_path / "copy.zip"
    await mongozarr.copy_async(original, str(archive))
    # The archive got its central directory: it opens read-only.
    reopened = open_store(str(archive), "r")
    try:
        assert await snapshot_async(reopened) == await snapshot_async(original)
    finally:
        reopened.close()
