"""mongozarr.copy / export_archive / import_archive between directories, zip, MongoDB and S3."""

from __future__ import annotations

import itertools
import zipfile
from pathlib import Path
from typing import Any

import pytest
import zarr
from zarr.core.buffer import Buffer, default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import LocalStore, MemoryStore, WrapperStore, ZipStore

import mongozarr
from mongozarr import CopyError, CopyEvent, MongoStore
from mongozarr.storage import open_store
from tests import raw
from tests.transfer.samples import build, check_hierarchy, snapshot, thousand_chunks

KINDS = ["dir", "zip", "mock", "wire", "s3"]


@pytest.fixture
def url_of(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """``url_of(kind)``: a fresh, empty location of that store kind."""
    counter = itertools.count()

    def make(kind: str) -> str:
        n = next(counter)
        if kind == "dir":
            return str(tmp_path / f"tree{n}")
        if kind == "zip":
            return str(tmp_path / f"tree{n}.zip")
        if kind == "mock":
            return request.getfixturevalue("mock_uri") + f"#k{n}"
        if kind == "wire":
            return request.getfixturevalue("wire_uri") + f"#k{n}"
        return request.getfixturevalue("s3_url") + f"/k{n}"

    return make


def read_only(url: str) -> Any:
    return open_store(url, "r")


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize(("src_kind", "dst_kind"), [p for p in itertools.permutations(KINDS, 2)])
def test_round_trip_between_store_kinds(
    url_of: Any, src_kind: str, dst_kind: str, zarr_format: int
) -> None:
    original = build(zarr_format)
    src, dst = url_of(src_kind), url_of(dst_kind)
    mongozarr.copy(original, src)
    report = mongozarr.copy(src, dst)
    assert report.verified and report.copied == report.keys == len(snapshot(original))
    source, destination = read_only(src), read_only(dst)
    try:
        assert snapshot(destination) == snapshot(original)
        check_hierarchy(destination)
    finally:
        source.close()
        destination.close()


class Interrupted(Exception):
    """A simulated interruption (a lost connection, a full disk...)."""


class Interrupting(WrapperStore[Any]):
    """A destination that counts its writes and fails after ``fail_after`` of them."""

    def __init__(self, store: Any, fail_after: int | None = None) -> None:
        super().__init__(store)
        self.fail_after = fail_after
        self.sets: list[str] = []

    async def set(self, key: str, value: Buffer) -> None:
        if self.fail_after is not None and len(self.sets) >= self.fail_after:
            raise Interrupted(key)
        self.sets.append(key)
        await super().set(key, value)


@pytest.mark.parametrize("dst_kind", ["mock", "dir"])
def test_interrupted_copy_resumes_without_recopying(url_of: Any, dst_kind: str) -> None:
    source = thousand_chunks()
    total = len(snapshot(source))
    assert total == 1000 + 2  # chunks, the array's and the root's zarr.json
    target = open_store(url_of(dst_kind), "a")
    first = Interrupting(target, fail_after=300)
    events: list[CopyEvent] = []
    with pytest.raises(Interrupted):
        mongozarr.copy(source, first, progress=events.append, concurrency=8)
    assert len(first.sets) == 300
    assert events[0].kind == "plan" and events[0].total == total
    assert [e.done for e in events if e.kind == "copied"] == list(range(1, 301))
    # Metadata goes last: the half-copied hierarchy is not visible as one.
    assert not any(key.endswith("zarr.json") for key in first.sets)
    with pytest.raises(FileNotFoundError):
        zarr.open_group(target, mode="r")

    second = Interrupting(target)
    events = []
    report = mongozarr.copy(source, second, progress=events.append, concurrency=8)
    assert len(second.sets) == total - 300 == report.copied
    assert not set(second.sets) & set(first.sets)
    assert report.skipped == 300 and report.verified
    assert sum(e.kind == "skipped" for e in events) == 300
    assert [e.done for e in events if e.kind in ("copied", "skipped")] == list(range(1, total + 1))
    assert events[-1].kind == "verified"
    assert snapshot(target) == snapshot(source)

    third = Interrupting(target)
    assert mongozarr.copy(source, third).skipped == total
    assert third.sets == []


def test_resume_rewrites_a_chunk_of_another_size(mock_uri: str) -> None:
    source = build(3)
    mongozarr.copy(source, mock_uri)
    target = open_store(mock_uri, "a")
    sync(target.set("raw/img1/c/0/0", default_buffer_prototype().buffer.from_bytes(b"torn")))
    report = mongozarr.copy(source, mock_uri)
    assert report.copied == 1 and report.skipped == report.keys - 1
    assert snapshot(target) == snapshot(source)


class Corrupting(WrapperStore[Any]):
    """A destination that silently drops the last byte of every chunk."""

    async def set(self, key: str, value: Buffer) -> None:
        if not key.endswith("zarr.json"):
            value = default_buffer_prototype().buffer.from_bytes(value.to_bytes()[:-1])
        await super().set(key, value)


def test_verification_catches_a_bad_destination() -> None:
    with pytest.raises(CopyError, match="bytes, expected"):
        mongozarr.copy(build(3), Corrupting(MemoryStore()))


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_import_strips_consolidated_metadata(
    tmp_path: Path, mock_uri: str, zarr_format: int
) -> None:
    directory = tmp_path / "consolidated"
    mongozarr.copy(build(zarr_format), str(directory))
    zarr.consolidate_metadata(LocalStore(directory))
    report = mongozarr.import_archive(str(directory), mock_uri)
    if zarr_format == 3:
        assert report.stripped == ["zarr.json"] and report.dropped == []
    else:
        assert report.dropped == [".zmetadata"] and report.stripped == []
    store = MongoStore(mock_uri)
    root_doc = raw.database(mock_uri)["zarr.nodes"].find_one({"_id": ""})
    assert "consolidated_metadata" not in root_doc.get("metadata", {})
    assert raw.database(mock_uri)["zarr.chunks"].find_one({"_id": ".zmetadata"}) is None
    # Queryable, and a later write is not hidden behind a stale snapshot.
    found = raw.database(mock_uri)["zarr.nodes"].find({"attributes.subject": "mouse-7"})
    assert {doc["_id"] for doc in found} == {"", "raw/img1"}
    zarr.open_group(store, mode="a").create_group("later")
    assert "later" in zarr.open_group(store, mode="r")


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_export_writes_a_consolidated_archive(
    tmp_path: Path, mock_uri: str, zarr_format: int
) -> None:
    mongozarr.copy(build(zarr_format), mock_uri)
    archive = tmp_path / "at-rest.zip"
    report = mongozarr.export_archive(mock_uri, archive)
    assert report.verified
    with zipfile.ZipFile(archive) as entries:
        names = entries.namelist()
    assert len(names) == len(set(names))  # every key written once
    store = ZipStore(archive, mode="r")
    try:
        root = zarr.open_consolidated(store, mode="r", zarr_format=zarr_format)
        consolidated = root.metadata.consolidated_metadata.flattened_metadata
        assert set(consolidated) >= {"raw", "raw/img1", "labels"}
        check_hierarchy(store)
    finally:
        store.close()


def test_open_store_resolves_every_kind(tmp_path: Path, mock_uri: str) -> None:
    assert isinstance(open_store(str(tmp_path / "d"), "a"), LocalStore)
    assert isinstance(open_store(f"file://{tmp_path}", "r"), LocalStore)
    zipped = open_store(f"zip://{tmp_path}/a.zip", "w")
    assert isinstance(zipped, ZipStore)
    zipped.close()
    mongo = open_store(mock_uri + "#lab", "r")
    assert isinstance(mongo, MongoStore) and mongo.prefix == "lab" and mongo.read_only
    with pytest.raises(FileNotFoundError):
        open_store(str(tmp_path / "missing.zip"), "r")
    with pytest.raises(ValueError, match="unsupported store URL"):
        open_store("ftp://host/x")


def test_open_store_w_empties_the_store(mock_uri: str) -> None:
    mongozarr.copy(build(3), mock_uri)
    store = open_store(mock_uri, "w")
    assert snapshot(store) == {}


def test_progress_takes_a_callable_and_the_library_prints_nothing(
    capsys: pytest.CaptureFixture[str], mock_uri: str
) -> None:
    events: list[CopyEvent] = []
    report = mongozarr.copy(thousand_chunks(), mock_uri, progress=events.append)
    assert [e.kind for e in events][:: len(events) - 1] == ["plan", "verified"]
    assert events[-2].done == events[-2].total == report.keys == 1002
    assert mongozarr.copy(thousand_chunks(), mock_uri).skipped == 1002  # silent by default
    assert capsys.readouterr() == ("", "")
    with pytest.raises(TypeError, match="progress must be a callable"):
        mongozarr.copy(thousand_chunks(), mock_uri, progress=True)  # type: ignore[arg-type]


def test_an_empty_source_is_an_error_unless_allowed(mock_uri: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mongozarr import NodeNotFoundError, copy
    from mongozarr.cli import app

    typo = f"{mock_uri}#lba"
    with pytest.raises(NodeNotFoundError, match="holds no zarr data"):
        copy(typo, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert copy(typo, str(tmp_path / "out"), allow_empty=True).keys == 0
    for args in (["copy", typo, str(tmp_path / "o2")], ["export", typo, "--archive", str(tmp_path / "a.zip")]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 3, result.output
        assert "error: " in result.stderr and "holds no zarr data" in result.stderr and "Traceback" not in result.output
    assert CliRunner().invoke(app, ["copy", typo, str(tmp_path / "o3"), "--allow-empty"]).exit_code == 0


@pytest.mark.wire
def test_more_keys_than_one_in_query_of_the_wire_server_takes(wire_uri: str) -> None:
    # The local server (mongoeco) refuses an `$in` of more than ~495 values: the
    # copier's batched size check must stay below that (a MongoStore is asked
    # by batch, not key by key).
    source = MemoryStore()
    zarr.create_array(source, shape=(520,), chunks=(1,), dtype="u1", fill_value=None)[:] = 7
    target = MongoStore(wire_uri)
    report = mongozarr.copy(source, target, concurrency=16)
    assert report.copied == 521 and report.verified
    assert mongozarr.copy(source, target).skipped == 521
    assert snapshot(target) == snapshot(source)
    target.close()
