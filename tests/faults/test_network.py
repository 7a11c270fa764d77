"""Connection faults through a cutting proxy: clear errors that say whether anything changed."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from typer.testing import CliRunner

import mongozarr
from mongozarr import MongoStore, ServerUnavailableError, WriteOutcomeUnknownError, open_tree
from mongozarr.cli import app
from tests.faults.proxy import FaultProxy

pytestmark = pytest.mark.wire


@pytest.fixture
def proxy(wire_server):  # type: ignore[no-untyped-def]
    with FaultProxy(wire_server.host, wire_server.port) as running:
        yield running


@pytest.fixture
def tree(proxy: FaultProxy, wire_uri: str):  # type: ignore[no-untyped-def]
    database = wire_uri.rsplit("/", 1)[1].split("?")[0]
    root = zarr.open_group(store=MongoStore(wire_uri), mode="w", attributes={"count": 0})
    root.create_array("img", shape=(4, 4), chunks=(2, 2), dtype="i4")[:] = 1
    return open_tree(proxy.uri(database, socketTimeoutMS=2000))


@pytest.mark.parametrize("action", ["cut-after", "cut-before"])
def test_a_cut_update_says_its_outcome_is_unknown_and_is_applied_at_most_once(
    proxy: FaultProxy, tree, wire_uri: str, action: str  # type: ignore[no-untyped-def]
) -> None:
    proxy.arm(b"findAndModify", action)
    with pytest.raises(WriteOutcomeUnknownError, match="may or may not have been applied"):
        tree.update("/", {"$inc": {"count": 1}})
    assert proxy.fired.is_set()
    count = open_tree(wire_uri)["/@count"]
    assert count in (0, 1)
    # The next call reconnects and works.
    tree.update("/", {"$inc": {"count": 1}})
    assert open_tree(wire_uri)["/@count"] == count + 1


def test_a_cut_read_is_retried_once_then_says_nothing_changed(proxy: FaultProxy, tree) -> None:  # type: ignore[no-untyped-def]
    # PyMongo retries a read once on a new connection: one cut is invisible.
    proxy.arm(b"find\x00", "cut-after")
    assert [node.path for node in tree.find({})] == ["", "img"]
    assert proxy.fired.is_set()
    proxy.arm(b"find\x00", "cut-after", times=2)
    with pytest.raises(ServerUnavailableError, match="nothing was changed"):
        tree.find({})
    assert [node.path for node in tree.find({})] == ["", "img"]


def test_a_cut_chunk_write_leaves_old_or_new_chunk_and_says_unknown(
    proxy: FaultProxy, tree, wire_uri: str  # type: ignore[no-untyped-def]
) -> None:
    array = zarr.open_array(store=tree.store, path="img", mode="r+")
    proxy.arm(b"zarr.chunks", "cut-after")
    with pytest.raises(WriteOutcomeUnknownError):
        array[:2, :2] = 7
    stored = zarr.open_array(store=MongoStore(wire_uri), path="img", mode="r")[:2, :2]
    assert np.all(stored == 1) or np.all(stored == 7)


@pytest.mark.parametrize("action", ["cut-after", "cut-before"])
def test_a_cut_creation_says_its_outcome_is_unknown_and_creates_at_most_once(
    proxy: FaultProxy, tree, wire_uri: str, action: str  # type: ignore[no-untyped-def]
) -> None:
    # A new node is inserted (batched with the creations in flight), not merged.
    zarr.open_group(store=tree.store, mode="r")  # the indexes made, the root read
    proxy.arm(b"insert\x00", action)
    with pytest.raises(WriteOutcomeUnknownError, match="may or may not have been applied"):
        zarr.create_array(tree.store, name="new", shape=(2,), chunks=(1,), dtype="u1", attributes={"k": 1})
    assert proxy.fired.is_set()
    created = zarr.open_group(store=MongoStore(wire_uri), mode="r")
    if "new" in created:
        assert dict(created["new"].attrs) == {"k": 1}
    # Written again once the connection is back: created, or merged into the one that landed.
    zarr.create_array(tree.store, name="new", shape=(2,), chunks=(1,), dtype="u1", attributes={"k": 2},
                      overwrite="new" in created)
    assert dict(zarr.open_array(store=MongoStore(wire_uri), path="new", mode="r").attrs) == {"k": 2}


def _link(store: MongoStore) -> None:
    mongozarr.link(store, "img", "/")


def _lease(store: MongoStore) -> None:
    with mongozarr.lease(store, "calibration"):
        pass


def _delete(store: MongoStore) -> None:
    mongozarr.delete_node(store, "img")


@pytest.mark.parametrize(
    ("operation", "marker"),
    [(_link, b"update\x00"), (_lease, b"findAndModify"), (_delete, b"delete\x00")],
    ids=["link", "lease", "delete_node"],
)
def test_cut_coordination_writes_say_their_outcome_is_unknown(
    proxy: FaultProxy, tree, operation, marker: bytes  # type: ignore[no-untyped-def]
) -> None:
    # Links, leases and deletes send their own commands, not the store's: the
    # same mapping holds for them.
    proxy.arm(marker, "cut-before")
    with pytest.raises(WriteOutcomeUnknownError, match="may or may not have been applied"):
        operation(tree.store)
    assert proxy.fired.is_set()
    operation(tree.store)  # re-runnable once the connection is back


def test_cut_coordination_reads_say_nothing_changed(proxy: FaultProxy, tree) -> None:  # type: ignore[no-untyped-def]
    proxy.arm(b"find\x00", "cut-after", times=2)
    with pytest.raises(ServerUnavailableError, match="backlinks_async.*nothing was changed"):
        mongozarr.backlinks(tree.store, "/")
    assert mongozarr.backlinks(tree.store, "/") == []


def test_a_stalled_server_times_out_instead_of_hanging(proxy: FaultProxy, tree) -> None:  # type: ignore[no-untyped-def]
    proxy.arm(b"findAndModify", "stall")
    with pytest.raises(WriteOutcomeUnknownError):
        tree.update("/", {"$set": {"x": 1}})
    assert proxy.fired.is_set()


def test_an_unreachable_server_is_one_line_and_exit_code_5(unused_port: int) -> None:
    uri = f"mongodb://127.0.0.1:{unused_port}/lab?serverSelectionTimeoutMS=300"
    with pytest.raises(ServerUnavailableError, match="cannot reach"):
        open_tree(uri).find({})
    result = CliRunner().invoke(app, ["ls", "--uri", uri])
    assert result.exit_code == 5
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


@pytest.fixture
def unused_port() -> int:
    """A port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
