"""The request coalescer: batching, failures of one item, cancellation."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import zarr
from zarr.core.buffer import cpu

from mongozarr import MongoStore
from mongozarr.storage.batching import Coalescer, drain


async def test_requests_of_one_turn_share_a_batch() -> None:
    seen: list[list[str]] = []

    async def run(items: dict[str, object]) -> dict[str, object]:
        seen.append(list(items))
        return {item: item.upper() for item in items}

    coalescer = Coalescer(run, lambda: 3)
    results = await asyncio.gather(*(coalescer.submit(x) for x in "abcdefg"))
    assert results == list("ABCDEFG")
    assert seen == [["a", "b", "c"], ["d", "e", "f"], ["g"]]


async def test_one_failing_item_does_not_fail_its_batch_mates() -> None:
    async def run(items: dict[str, object]) -> dict[str, object]:
        return {item: (KeyError(item) if item == "bad" else item) for item in items}

    coalescer = Coalescer(run, lambda: 10)
    results = await asyncio.gather(*(coalescer.submit(x) for x in ["a", "bad", "b"]), return_exceptions=True)
    assert results[0] == "a" and results[2] == "b"
    assert isinstance(results[1], KeyError)


async def test_a_failing_batch_reaches_every_waiter_and_the_next_batch_works() -> None:
    calls = 0

    async def run(items: dict[str, object]) -> dict[str, object]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("server went away")
        return dict.fromkeys(items, "ok")

    coalescer = Coalescer(run, lambda: 10)
    results = await asyncio.gather(coalescer.submit("a"), coalescer.submit("b"), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert await coalescer.submit("c") == "ok"


async def test_cancelled_caller_leaves_batch_mates_served() -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def run(items: dict[str, object]) -> dict[str, object]:
        started.set()
        await release.wait()
        return dict.fromkeys(items, 1)

    coalescer = Coalescer(run, lambda: 10)
    first = asyncio.ensure_future(coalescer.submit("a"))
    second = asyncio.ensure_future(coalescer.submit("b"))
    await started.wait()  # the batch of both is in flight
    first.cancel()
    release.set()
    assert await second == 1
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_same_item_twice_is_one_request_with_every_payload() -> None:
    async def run(items: dict[str, list[object]]) -> dict[str, object]:
        return {item: tuple(payloads) for item, payloads in items.items()}

    coalescer = Coalescer(run, lambda: 10)
    assert await asyncio.gather(coalescer.submit("k", 1), coalescer.submit("k", 2)) == [(1, 2), (1, 2)]


def test_concurrent_sets_of_one_key_keep_the_last(mock_uri: str) -> None:
    store = MongoStore(mock_uri)

    async def write_all() -> None:
        await asyncio.gather(*(store.set("a/c/0", cpu.Buffer.from_bytes(bytes([i]))) for i in range(5)))

    asyncio.run(write_all())
    assert zarr.core.sync.sync(store.get("a/c/0")).to_bytes() == bytes([4])


def test_batched_reads_of_missing_and_present_chunks(store_uri: str) -> None:
    store = MongoStore(store_uri)
    array = zarr.create_array(store, name="a", shape=(40,), chunks=(4,), dtype="i2", fill_value=-1)
    array[8:20] = 7  # chunks 2..4 exist, the rest are fill (never written)
    expected = np.full(40, -1, dtype="i2")
    expected[8:20] = 7
    np.testing.assert_array_equal(zarr.open_array(MongoStore(store_uri), path="a")[:], expected)


async def test_a_sent_batch_finishes_after_its_callers_are_cancelled_and_drain_waits_for_it() -> None:
    # Cut off mid-request, a write leaves the server a dropped connection to clean
    # up (mongoeco can be left with its database locked): a batch on the wire runs
    # to its end, and drain() lets a cancelled operation wait for it.
    started, release, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def run(items: dict[str, object]) -> dict[str, object]:
        started.set()
        await release.wait()
        finished.set()
        return {item: item for item in items}

    coalescer = Coalescer(run, lambda: 10)
    callers = [asyncio.create_task(coalescer.submit(x)) for x in "ab"]
    await started.wait()
    for caller in callers:
        caller.cancel()
    await asyncio.gather(*callers, return_exceptions=True)
    # The drainer's first step runs before the release (callbacks run in order), so
    # it finds the batch unfinished; had it not waited, the test would resume first.
    drainer = asyncio.create_task(drain(timeout=60))
    asyncio.get_running_loop().call_soon(release.set)
    await drainer
    assert finished.is_set()
    assert await coalescer.submit("c") == "c"  # the next batch works
