"""Round-trip counting with PyMongo command monitoring (wire tier)."""

from __future__ import annotations

import asyncio

import pytest
import zarr
from zarr.core.buffer import cpu

from mongozarr.monitoring import CONNECTION_COMMANDS, CommandCounter, monitored_store
from tests import raw

pytestmark = pytest.mark.wire


def test_one_chunk_get_is_one_find(wire_uri: str) -> None:
    raw.write_key(raw.database(wire_uri), "a/c/0", b"\x01\x02\x03")
    store, counter = monitored_store(wire_uri)
    with counter.measure() as trips:
        value = store.get_sync("a/c/0")
    assert value is not None and value.to_bytes() == b"\x01\x02\x03"
    assert trips.by_command == {"find": 1}
    assert trips.total == 1


def test_store_reads_the_database_named_in_the_uri(wire_uri: str) -> None:
    store, _ = monitored_store(wire_uri)
    assert store.connection.database_name == wire_uri.split("/")[3].split("?")[0]


def test_connection_commands_are_not_counted(wire_uri: str) -> None:
    store, counter = monitored_store(wire_uri)
    # The first command opens a connection (handshake) on a fresh client.
    store.get_sync("missing/c/0")
    names = {name.lower() for name in counter.counts()}
    assert names, "the get sent no command at all"
    assert not names & CONNECTION_COMMANDS


def test_every_per_loop_client_reports_to_the_counter(wire_uri: str) -> None:
    raw.write_key(raw.database(wire_uri), "a/c/0", b"x")
    store, counter = monitored_store(wire_uri)
    # zarr's sync API runs on zarr's loop thread; asyncio.run makes another loop,
    # so the store builds a second client from the first one's settings.
    store.get_sync("a/c/0")
    asyncio.run(store.get("a/c/0"))
    assert counter.counts() == {"find": 2}


def test_measure_counts_only_inside_the_block(wire_uri: str) -> None:
    store, counter = monitored_store(wire_uri)
    store.set_sync("a/c/0", cpu.Buffer.from_bytes(b"x"))
    before = counter.total
    assert before > 0
    with counter.measure() as trips:
        store.get_sync("a/c/0")
        assert trips.total == 1  # live inside the block
    store.get_sync("a/c/0")
    assert trips.total == 1  # frozen after it
    assert counter.total == before + 2
    counter.reset()
    assert counter.counts() == {}


def test_counts_a_zarr_array_read(wire_uri: str) -> None:
    store, counter = monitored_store(wire_uri)
    array = zarr.create_array(store, shape=(4,), chunks=(2,), dtype="uint8", fill_value=0)
    array[:] = [1, 2, 3, 4]
    with counter.measure() as trips:
        assert zarr.open_array(store, mode="r")[:].tolist() == [1, 2, 3, 4]
    assert trips.by_command.get("find", 0) >= 1
    assert set(trips.by_command) <= {"find", "getMore", "aggregate"}


def test_shared_counter_and_custom_ignore(wire_uri: str) -> None:
    counter = CommandCounter(ignore={"FIND"})
    store, same = monitored_store(wire_uri, counter=counter, prefix="other")
    assert same is counter and store.prefix == "other"
    raw.write_key(raw.database(wire_uri), "a/c/0", b"x", prefix="other")
    assert store.get_sync("a/c/0") is not None
    assert counter.counts() == {}


def test_mongomock_cannot_be_monitored(mock_uri: str) -> None:
    with pytest.raises(ValueError, match="mongodb://"):
        monitored_store(mock_uri)
