"""Leases: grant, exclusion, expiry, renewal, fencing; exclusion across processes."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from mongozarr import LeaseLost, MongoStore, lease, lease_async, lease_status, lease_status_async
from mongozarr.errors import LeaseTimeout
from tests import raw
from tests.workers import run_workers, started_together


@pytest.fixture(params=["mock", "wire"])
def uri(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_uri")


def test_exclusive_and_fenced(uri: str) -> None:
    store = MongoStore(uri)
    with lease(store, "raw/img1", ttl=30) as first:
        assert lease_status(store, "raw/img1")["owner"] == first.token
        with pytest.raises(LeaseTimeout), lease(store, "raw/img1", wait=0.2):
            pass
        # Another name is independent.
        with lease(store, "raw/img2") as other:
            assert other.token != first.token
    assert lease_status(store, "raw/img1")["owner"] is None
    with lease(store, "raw/img1") as second:
        assert second.fence == first.fence + 1


def _expire(uri: str, name: str) -> None:
    """Let a lease's time run out (as if its holder had crashed an hour ago)."""
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    raw.database(uri)["zarr.locks"].update_one({"_id": name}, {"$set": {"expires_at": past}})


def test_expired_lease_is_granted_again_and_old_holder_loses_it(uri: str) -> None:
    store = MongoStore(uri)
    with lease(store, "job", ttl=30) as crashed:
        # The holder "crashes": it never renews, and its time runs out.
        _expire(uri, "job")
        with lease(store, "job", ttl=30, wait=0) as taker:
            assert taker.fence > crashed.fence
            with pytest.raises(LeaseLost):
                crashed.renew()
        # Releasing a lost lease does not free the new holder's grant.
        assert crashed.release() is False


def test_renew_extends_expiry(uri: str) -> None:
    store = MongoStore(uri)
    with lease(store, "job", ttl=1) as held:
        before = held.expires_at
        held.renew(ttl=60)
        # 59 s later than the first expiry, give or take the time renewing took.
        assert held.expires_at - before > datetime.timedelta(seconds=50)
        stored = raw.database(uri)["zarr.locks"].find_one({"_id": "job"})
        assert stored["owner"] == held.token
        with pytest.raises(LeaseTimeout), lease(store, "job", wait=0):
            pass


def test_rejects_nonpositive_ttl(mock_uri: str) -> None:
    with pytest.raises(ValueError, match="ttl"), lease(MongoStore(mock_uri), "x", ttl=0):
        pass


async def test_lease_async_inside_a_running_loop(uri: str) -> None:
    store = MongoStore(uri)
    async with lease_async(store, "job", ttl=1) as held:
        assert (await lease_status_async(store, "job"))["owner"] == held.token
        with pytest.raises(LeaseTimeout):
            async with lease_async(store, "job", wait=0.05):
                pass
        before = held.expires_at
        await held.renew_async(ttl=60)
        assert held.expires_at - before > datetime.timedelta(seconds=50)
    assert (await lease_status_async(store, "job"))["owner"] is None
    async with lease_async(store, "job") as again:
        assert again.fence == held.fence + 1
        _expire(uri, "job")
        async with lease_async(store, "job") as taker:
            with pytest.raises(LeaseLost):
                await again.renew_async()
            assert await again.release_async() is False
        assert taker.fence == again.fence + 1


async def test_async_waiters_in_one_loop_take_turns(uri: str) -> None:
    store = MongoStore(uri)
    trace: list[tuple[str, int]] = []

    async def work(i: int) -> int:
        async with lease_async(store, "turns", wait=None) as held:
            trace.append(("in", i))
            await lease_status_async(store, "turns")  # give the loop to the other tasks while holding
            trace.append(("out", i))
            return held.fence

    fences = await asyncio.gather(*(work(i) for i in range(3)))
    assert sorted(fences) == [1, 2, 3]
    assert [kind for kind, _ in trace] == ["in", "out"] * 3
    assert all(trace[k][1] == trace[k + 1][1] for k in range(0, 6, 2))


def test_read_only_store_takes_no_lease(mock_uri: str) -> None:
    with pytest.raises(ValueError, match="read-only"), lease(MongoStore(mock_uri, read_only=True), "x"):
        pass
    assert lease_status(MongoStore(mock_uri), "x") is None


def _count_under_lease(uri: str, rounds: int) -> list[int]:
    """Read-modify-write a counter under the lease: safe only if leases exclude."""
    store = MongoStore(uri)
    counters = raw.database(uri)["counters"]
    fences = []
    started_together()
    for _ in range(rounds):
        with lease(store, "counter", ttl=30, wait=None) as held:
            value = counters.find_one({"_id": "c"})["n"]
            counters.find_one({"_id": "c"})  # one more round trip inside the window
            counters.update_one({"_id": "c"}, {"$set": {"n": value + 1}})
            fences.append(held.fence)
    return fences


def test_lease_excludes_across_processes(server_uri: str) -> None:
    raw.database(server_uri)["counters"].insert_one({"_id": "c", "n": 0})
    workers, rounds = 4, 8
    results = run_workers(_count_under_lease, [(server_uri, rounds)] * workers)
    fences = [f for r in results for f in r]
    assert raw.database(server_uri)["counters"].find_one({"_id": "c"})["n"] == workers * rounds
    assert sorted(fences) == list(range(1, workers * rounds + 1))
    for per_worker in results:
        assert per_worker == sorted(per_worker)
