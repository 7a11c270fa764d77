"""The request coalescer: batching, failures of one item, cancellation."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Generator

import numpy as np
import pytest
import zarr
from zarr.core.buffer import cpu

from mongozarr import MongoStore
from mongozarr.storage import batching
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


@types.coroutine
def _next_turn() -> Generator[None, None, None]:
    """Give the loop one turn: the task runs again after the callbacks already due (no clock)."""
    yield


async def _trickle(coalescer: Coalescer[str], items: str, spread: float) -> list[object]:
    """Submit ``items`` one loop turn apart, as zarr's callers come back from their encodes."""

    async def caller(turns: int, item: str) -> object:
        for _ in range(turns):
            await _next_turn()
        return await coalescer.submit(item, spread=spread)

    return await asyncio.gather(*(caller(i, item) for i, item in enumerate(items)))


def _set_linger(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Every hold lasts ``seconds`` (its floor and its ceiling)."""
    monkeypatch.setattr(batching, "_MIN_LINGER", seconds)
    monkeypatch.setattr(batching, "_MAX_LINGER", seconds)


def _recording() -> tuple[list[list[str]], batching.BatchFunction[str]]:
    seen: list[list[str]] = []

    async def run(items: dict[str, object]) -> dict[str, object]:
        seen.append(list(items))
        return {item: item.upper() for item in items}

    return seen, run


async def test_requests_with_a_spread_are_held_from_idle_until_the_batch_fills(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A hold that cannot expire during the test: only the fill sends the batch.
    _set_linger(monkeypatch, 3600.0)
    seen, run = _recording()
    coalescer = Coalescer(run, lambda: 100, fill=lambda: 4)
    assert await _trickle(coalescer, "abcdefgh", spread=0.001) == list("ABCDEFGH")
    assert seen == [list("abcd"), list("efgh")]


async def test_without_a_spread_an_idle_coalescer_sends_the_first_turn() -> None:
    # Reads: zarr starts its first calls in one turn, so nothing is held from idle.
    seen, run = _recording()
    coalescer = Coalescer(run, lambda: 100, fill=lambda: 4)
    assert await _trickle(coalescer, "abcd", spread=0.0) == list("ABCD")
    assert seen[0] == ["a"]


async def test_a_held_batch_that_never_fills_goes_when_its_spread_has_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A hold of zero: it expires on the next loop iteration, no clock to wait for.
    _set_linger(monkeypatch, 0.0)
    seen, run = _recording()
    coalescer = Coalescer(run, lambda: 100, fill=lambda: 10)
    assert await asyncio.gather(*(coalescer.submit(x, spread=1.0) for x in "abc")) == list("ABC")
    assert seen == [list("abc")]


async def test_callers_queued_behind_an_expired_hold_still_join_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # A loop starved by worker threads runs an expired hold's timer in the same
    # turn as the callbacks of encodes that ended meanwhile; their callers reach
    # submit a few task steps later. A hold of zero expires on the next turn: the
    # last caller here, two steps behind, must still make the batch.
    _set_linger(monkeypatch, 0.0)
    seen, run = _recording()
    coalescer = Coalescer(run, lambda: 100, fill=lambda: 3)

    async def late_caller() -> object:
        await _next_turn()
        await _next_turn()
        return await coalescer.submit("c", spread=1.0)

    late = asyncio.create_task(late_caller())
    first = await asyncio.gather(coalescer.submit("a", spread=1.0), coalescer.submit("b", spread=1.0))
    assert [*first, await late] == list("ABC")
    assert seen == [list("abc")]


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


async def test_lone_writes_are_sent_at_once_and_bursts_are_held_again() -> None:
    """A request with a spread is held from idle (a burst may follow) unless the traffic is
    lone requests: one sent alone that nobody joined while in flight sends the next at once."""
    started, release = asyncio.Event(), asyncio.Event()
    sent: list[list[str]] = []

    async def run(requests: dict[str, list[object]]) -> dict[str, str]:
        sent.append(list(requests))
        if "slow" in requests:
            started.set()
            await release.wait()
        return {key: key for key in requests}

    coalescer: Coalescer[str] = Coalescer(run, lambda: 100, fill=lambda: 10)
    loop = asyncio.get_running_loop()

    async def submit_and_look(item: str) -> tuple[str, dict[str, bool]]:
        # The callback runs right after the submit's first step: is the request held?
        seen: dict[str, bool] = {}
        task = asyncio.ensure_future(coalescer.submit(item, spread=0.001))
        loop.call_soon(lambda: seen.update(held=coalescer._hold is not None, sent_this_turn=coalescer._scheduled))
        return await task, seen

    # A fresh coalescer holds its first request for the spread: a burst may follow.
    assert await submit_and_look("a") == ("a", {"held": True, "sent_this_turn": False})
    # Nobody joined it: a lone caller. Its next request goes at the end of this turn.
    assert await submit_and_look("b") == ("b", {"held": False, "sent_this_turn": True})
    # A request arriving while a batch is in flight: a burst; idle requests are held again.
    slow = asyncio.ensure_future(coalescer.submit("slow"))
    await started.wait()
    joined = asyncio.ensure_future(coalescer.submit("joined"))
    loop.call_soon(release.set)
    assert await slow == "slow" and await joined == "joined"
    assert await submit_and_look("c") == ("c", {"held": True, "sent_this_turn": False})
    assert sent == [["a"], ["b"], ["slow"], ["joined"], ["c"]]
