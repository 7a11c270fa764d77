"""Leases: grant, exclusion, expiry, renewal, fencing; exclusion across processes."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from mongozarr import MongoStore
from mongozarr.errors import LockTimeout
from mongozarr import LeaseLost, lease, lease_status
from tests import raw


@pytest.fixture(params=["mock", "wire"])
def uri(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_uri")


def test_exclusive_and_fenced(uri: str) -> None:
    store = MongoStore(uri)
    with lease(store, "raw/img1", ttl=30) as first:
        assert lease_status(store, "raw/img1")["owner"] == first.token
        with pytest.raises(LockTimeout):
            with lease(store, "raw/img1", wait=0.2):
                pass
        # Another name is independent.
        with lease(store, "raw/img2") as other:
            assert other.token != first.token
    assert lease_status(store, "raw/img1")["owner"] is None
    with lease(store, "raw/img1") as second:
        assert second.fence == first.fence + 1


def test_expired_lease_is_granted_again_and_old_holder_loses_it(uri: str) -> None:
    store = MongoStore(uri)
    with lease(store, "job", ttl=0.3) as crashed:
        # The holder "crashes": it never renews; a waiter gets the lease after expiry.
        with lease(store, "job", ttl=30, wait=10) as taker:
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
        assert held.expires_at > before
        assert raw.database(uri)["zarr.locks"].find_one({"_id": "job"})["owner"] == held.token
        time.sleep(1.2)  # past the first ttl: the renewal keeps it ours
        with pytest.raises(LockTimeout):
            with lease(store, "job", wait=0):
                pass


def test_rejects_nonpositive_ttl(mock_uri: str) -> None:
    with pytest.raises(ValueError, match="ttl"):
        with lease(MongoStore(mock_uri), "x", ttl=0):
            pass


def _count_under_lease(uri: str, rounds: int) -> list[int]:
    """Read-modify-write a counter under the lease: safe only if leases exclude."""
    store = MongoStore(uri)
    counters = raw.database(uri)["counters"]
    fences = []
    for _ in range(rounds):
        with lease(store, "counter", ttl=30, wait=60) as held:
            value = counters.find_one({"_id": "c"})["n"]
            time.sleep(0.005)  # widen the window a lost update would need
            counters.update_one({"_id": "c"}, {"$set": {"n": value + 1}})
            fences.append(held.fence)
    return fences


def test_lease_excludes_across_processes(server_uri: str) -> None:
    raw.database(server_uri)["counters"].insert_one({"_id": "c", "n": 0})
    workers, rounds = 4, 8
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        results = pool.starmap(_count_under_lease, [(server_uri, rounds)] * workers)
    fences = [f for r in results for f in r]
    assert raw.database(server_uri)["counters"].find_one({"_id": "c"})["n"] == workers * rounds
    assert sorted(fences) == list(range(1, workers * rounds + 1))
    for per_worker in results:
        assert per_worker == sorted(per_worker)
