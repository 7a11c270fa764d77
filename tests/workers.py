"""Run test workers in spawned processes that start together.

Every worker waits on one barrier before its first operation, then runs a
fixed number of operations: the processes overlap however slowly the machine
starts them, and nothing depends on a wall-clock deadline.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any

# Only guards against a worker that died before reaching the barrier (the
# barrier then breaks instead of hanging); it never decides an outcome.
_HANG_GUARD_SECONDS = 600

_barrier: Any = None


def _start(barrier: Any) -> None:
    global _barrier
    _barrier = barrier


def started_together() -> None:
    """Wait until every worker of the run is ready to start (call once, in a worker)."""
    _barrier.wait(_HANG_GUARD_SECONDS)


def run_workers(target: Callable[..., Any], arguments: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Call ``target(*args)`` in one spawned process per ``args``; their results, in order.

    ``target`` must be importable (a module-level function) and call
    :func:`started_together` once it is ready to begin.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(arguments))
    with context.Pool(len(arguments), initializer=_start, initargs=(barrier,)) as pool:
        return pool.starmap(target, arguments)
