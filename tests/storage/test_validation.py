"""Bad store names are refused before anything is touched, and no error shows a password."""

from __future__ import annotations

import pytest
import zarr
from typer.testing import CliRunner

from mongozarr import MongoStore, copy
from mongozarr.cli import app
from mongozarr.storage import open_store
from tests import raw

CANARY = "Canary-S3cr3t"


@pytest.mark.parametrize("prefix", ["zarr.fs", "zarr.fs.chunks", "system", "system_x", "a" * 65, "x" * 300,
                                    "", "a b", "a$b", "a/b", "\0"])
def test_a_prefix_that_could_reach_other_collections_is_refused(mock_uri: str, prefix: str) -> None:
    zarr.open_group(store=MongoStore(mock_uri), mode="w").create_array("a", shape=(4,), dtype="i4")[:] = 1
    before = raw.database(mock_uri)["zarr.chunks"].count_documents({})
    with pytest.raises(ValueError, match="prefix"):
        MongoStore(mock_uri, prefix=prefix)
    assert raw.database(mock_uri)["zarr.chunks"].count_documents({}) == before


@pytest.mark.parametrize("database", ["admin", "config", "local", "a.b", "with space", "x" * 64])
def test_reserved_or_invalid_databases_are_refused(database: str) -> None:
    with pytest.raises(ValueError, match="database"):
        MongoStore("mongodb://127.0.0.1:1/", database=database)
    with pytest.raises(ValueError, match="database"):
        MongoStore(f"mongodb://127.0.0.1:1/{database}")


@pytest.mark.parametrize("uri", ["mongodb://", "mongodb:///lab", "mongodb://user:pw@/lab", "mongomock://"])
def test_a_uri_without_a_host_is_refused(uri: str) -> None:
    with pytest.raises(ValueError, match="needs a"):
        MongoStore(uri)


def test_the_prefix_suffix_names_the_prefix_and_str_round_trips(mock_uri: str) -> None:
    store = MongoStore(f"{mock_uri}#lab")
    assert store.prefix == "lab" and str(store).endswith("#lab")
    assert MongoStore(str(store)) == store
    assert MongoStore(f"{mock_uri}#lab", prefix="lab") == store
    with pytest.raises(ValueError, match="contradicts"):
        MongoStore(f"{mock_uri}#lab", prefix="other")


BAD_URIS = [f"mongo://user:{CANARY}@host/db", f"mongodb://user:{CANARY}@/db",
            f"mongodb://user:{CANARY}@host/admin", f"mongodb+srv://user:{CANARY}@host/db#a.b"]


@pytest.mark.parametrize("uri", BAD_URIS)
def test_no_error_shows_the_password(uri: str, tmp_path) -> None:
    for attempt in (lambda: MongoStore(uri), lambda: open_store(uri, "r"), lambda: copy(uri, str(tmp_path / "out"))):
        with pytest.raises(Exception) as caught:
            attempt()
        assert CANARY not in str(caught.value) and CANARY not in repr(caught.value)
    for args in (["ls", "--uri", uri], ["copy", uri, str(tmp_path / "o")], ["import", str(tmp_path), "--uri", uri]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code != 0
        assert CANARY not in result.output, args


def test_a_store_with_a_password_prints_without_it() -> None:
    store = MongoStore(f"mongodb://user:{CANARY}@127.0.0.1:1/lab")
    assert CANARY not in str(store) and CANARY not in repr(store)


@pytest.mark.wire
async def test_timeouts_are_finite_by_default_and_the_uri_decides(wire_uri: str) -> None:
    default = MongoStore(wire_uri)
    own = MongoStore(wire_uri + "&socketTimeoutMS=1234")
    try:
        options = default.database().client.options
        assert options.server_selection_timeout == 10 and options.pool_options.socket_timeout == 300
        assert own.database().client.options.pool_options.socket_timeout == 1.234
    finally:
        await default.close_async()
        await own.close_async()


@pytest.mark.parametrize("key", ["dot/../dot/zarr.json", "/lead/zarr.json", "a//zarr.json", "./zarr.json",
                                 "a/zarr.json/b", "a/.zattrs/c/0", "a/..", ""])
def test_keys_that_name_no_safe_place_are_refused_and_nothing_is_written(mock_uri: str, key: str) -> None:
    from zarr.core.buffer import default_buffer_prototype

    store = MongoStore(mock_uri)
    value = default_buffer_prototype().buffer.from_bytes(b'{"zarr_format": 3, "node_type": "group"}')
    for write in (store.set_sync, lambda k, v: zarr.core.sync.sync(store.set_if_not_exists(k, v))):
        with pytest.raises(ValueError, match="invalid store key"):
            write(key, value)
    assert raw.database(mock_uri)["zarr.nodes"].count_documents({}) == 0
    assert raw.database(mock_uri)["zarr.chunks"].count_documents({}) == 0
