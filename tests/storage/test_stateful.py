"""zarr's hypothesis state machines, driving random operations against MongoStore."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test
from zarr.testing.stateful import ZarrHierarchyStateMachine, ZarrStoreStateMachine

from mongozarr import MongoStore

# Few, short runs: the point is breadth of operation sequences, in seconds.
FAST = settings(max_examples=20, stateful_step_count=15, deadline=None)


def _store() -> MongoStore:
    return MongoStore(f"mongomock://stateful-{uuid.uuid4().hex}")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_zarr_store_state_machine() -> None:
    run_state_machine_as_test(lambda: ZarrStoreStateMachine(_store()), settings=FAST)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_zarr_hierarchy_state_machine() -> None:
    run_state_machine_as_test(lambda: ZarrHierarchyStateMachine(_store()), settings=FAST)
