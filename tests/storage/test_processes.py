"""MongoStore from zarr's sync and async APIs, threads, processes and dask."""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
import subprocess
import sys
import textwrap
import threading
from typing import Any

import numpy as np
import pytest
import zarr
import zarr.api.asynchronous as zasync

from mongozarr import MongoStore


def _write_array(uri: str, name: str, value: int) -> None:
    group = zarr.open_group(store=MongoStore(uri), mode="a")
    array = group.create_array(name, shape=(8,), chunks=(4,), dtype="i4", attributes={"writer": name})
    array[:] = value


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_hierarchy_reads_back_equal_in_a_new_process(server_uri: str, zarr_format: int) -> None:
    root = zarr.open_group(store=MongoStore(server_uri), mode="w", zarr_format=zarr_format,
                           attributes={"subject": "mouse-7", "big": 2**70})
    arr = root.create_array("raw/img", shape=(6, 5), chunks=(3, 3), dtype="f4", fill_value=float("nan"),
                            attributes={"stain": "dapi"})
    arr[:4] = np.arange(20, dtype="f4").reshape(4, 5)
    script = textwrap.dedent(f"""
        import json, numpy as np, zarr
        from mongozarr import MongoStore
        root = zarr.open_group(store=MongoStore({server_uri!r}), mode="r")
        arr = root["raw/img"]
        print(json.dumps({{"format": root.metadata.zarr_format, "attrs": dict(root.attrs),
                          "arr_attrs": dict(arr.attrs), "data": np.nan_to_num(arr[:], nan=-1).tolist()}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    import json

    seen = json.loads(out.stdout)
    assert seen["format"] == zarr_format
    assert seen["attrs"] == {"subject": "mouse-7", "big": 2**70}
    assert seen["arr_attrs"] == {"stain": "dapi"}
    expected = np.full((6, 5), -1.0)
    expected[:4] = np.arange(20).reshape(4, 5)
    assert seen["data"] == expected.tolist()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_writers_in_child_processes(server_uri: str, method: str) -> None:
    zarr.open_group(store=MongoStore(server_uri), mode="w")
    context = multiprocessing.get_context(method)
    processes = [context.Process(target=_write_array, args=(server_uri, f"p{i}", i)) for i in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    group = zarr.open_group(store=MongoStore(server_uri), mode="r")
    for i in range(4):
        np.testing.assert_array_equal(group[f"p{i}"][:], i)


def test_fork_after_use_in_parent(server_uri: str) -> None:
    store = MongoStore(server_uri)
    zarr.open_group(store=store, mode="w", attributes={"parent": True})
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_write_array, args=(server_uri, "child", 9))
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 0
    # The parent's store keeps working after the fork.
    group = zarr.open_group(store=store, mode="r")
    np.testing.assert_array_equal(group["child"][:], 9)


def test_threads_share_one_store(store_uri: str) -> None:
    store = MongoStore(store_uri)
    zarr.open_group(store=store, mode="w")
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            array = zarr.create_array(store, name=f"t{i}", shape=(6,), chunks=(2,), dtype="i2")
            array[:] = i
        except BaseException as error:  # collected and re-raised in the test thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    group = zarr.open_group(store=MongoStore(store_uri), mode="r")
    assert sorted(name for name, _ in group.members()) == sorted(f"t{i}" for i in range(8))
    for i in range(8):
        np.testing.assert_array_equal(group[f"t{i}"][:], i)


def test_async_api_in_callers_own_loops(store_uri: str) -> None:
    store = MongoStore(store_uri)

    async def write() -> None:
        group = await zasync.open_group(store=store, mode="w", attributes={"loop": 1})
        array = await group.create_array("a", shape=(4,), dtype="u1")
        await array.setitem(slice(None), np.arange(4, dtype="u1"))

    async def read() -> np.ndarray:
        array = await zasync.open_array(store=store, path="a", mode="r")
        return await array.getitem(slice(None))

    asyncio.run(write())
    # A second, different event loop: the store needs a client bound to it.
    np.testing.assert_array_equal(asyncio.run(read()), np.arange(4))
    # And zarr's own loop (the sync API) on the same store object.
    np.testing.assert_array_equal(zarr.open_array(store, path="a")[:], np.arange(4))


def test_pickled_store_reconnects(store_uri: str) -> None:
    store = MongoStore(store_uri, prefix="pk", read_only=False, inline_threshold=123)
    clone = pickle.loads(pickle.dumps(store))
    assert clone == store and clone.inline_threshold == 123 and clone.prefix == "pk"
    zarr.open_group(store=store, mode="w", attributes={"x": 1})
    assert dict(zarr.open_group(store=clone, mode="r").attrs) == {"x": 1}
    assert clone.with_read_only(True) != clone


def test_store_from_client_objects(wire_uri: str) -> None:
    import pymongo

    sync_client = pymongo.MongoClient(wire_uri)
    store = MongoStore(sync_client, database=wire_uri.split("/")[3].split("?")[0])
    zarr.open_group(store=store, mode="w", attributes={"via": "client"})
    assert dict(zarr.open_group(store=MongoStore(wire_uri), mode="r").attrs) == {"via": "client"}

    # The client is used as given, from any event loop (its calls run in worker threads).
    async def read() -> dict[str, Any]:
        group = await zasync.open_group(store=store, mode="r")
        return dict(group.attrs)

    assert asyncio.run(read()) == {"via": "client"}
    assert asyncio.run(read()) == {"via": "client"}
    assert "client " in str(store) and "mongodb://" not in str(store)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(store)
    sync_client.close()


def test_store_from_a_mongomock_client_cannot_be_pickled() -> None:
    import mongomock

    store = MongoStore(mongomock.MongoClient(), database="db")
    zarr.open_group(store=store, mode="w", attributes={"x": 1})
    assert dict(zarr.open_group(store=store, mode="r").attrs) == {"x": 1}
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(store)


def test_an_async_client_object_is_refused_for_its_uri_and_options() -> None:
    import pymongo

    client = pymongo.AsyncMongoClient("mongodb://127.0.0.1:1", connect=False)
    with pytest.raises(TypeError, match="client_options"):
        MongoStore(client)
    asyncio.run(client.close())
    with pytest.raises(TypeError, match="expected a MongoDB URI"):
        MongoStore(object())


def test_client_options_reach_each_client_and_pickle(wire_uri: str) -> None:
    store = MongoStore(wire_uri, client_options={"appname": "mongozarr-test"})
    clone = pickle.loads(pickle.dumps(store))
    assert clone == store and clone.connection.client_options == {"appname": "mongozarr-test"}
    zarr.open_group(store=clone, mode="w", attributes={"x": 1})
    assert dict(zarr.open_group(store=store, mode="r").attrs) == {"x": 1}

    async def appname() -> str:
        return clone.database().client.options.pool_options.metadata["application"]["name"]

    assert asyncio.run(appname()) == "mongozarr-test"
    with pytest.raises(ValueError, match="client_options"):
        MongoStore("mongomock://x", client_options={"appname": "a"})
