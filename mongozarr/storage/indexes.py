"""The indexes of a layout, created once per (process, database, prefix).

Index creation is a write, so it runs on the first write through a store,
never on a read. Concurrent first writes (zarr writes many chunks at once)
share one creation: the first starts it, the others wait for the same task.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Hashable
from typing import Any

from pymongo import IndexModel

from mongozarr.layout import Layout

__all__ = ["ensure_indexes"]

# Keys whose indexes exist, and creations under way (one per key and event loop:
# a task belongs to the loop it runs on).
_CREATED: set[Hashable] = set()
_PENDING: dict[tuple[Hashable, int], asyncio.Task[None]] = {}
_GUARD = threading.Lock()


async def ensure_indexes(db: Any, layout: Layout, key: Hashable) -> None:
    """Create every index of ``layout.indexes()`` in ``db``, once per ``key``.

    Parameters
    ----------
    db
        The async database handle of the running event loop.
    layout
        The collection names and index specifications.
    key
        What identifies the database and prefix (the store passes its
        connection identity and prefix).
    """
    if key in _CREATED:
        return
    loop = asyncio.get_running_loop()
    pending = (key, id(loop))
    with _GUARD:
        task = _PENDING.get(pending)
        if task is None or task.get_loop() is not loop:
            task = loop.create_task(_create(db, layout))
            _PENDING[pending] = task
    try:
        # A cancelled caller must not cancel the creation the others wait on.
        await asyncio.shield(task)
    finally:
        if task.done():
            with _GUARD:
                if _PENDING.get(pending) is task:
                    del _PENDING[pending]
    _CREATED.add(key)


async def _create(db: Any, layout: Layout) -> None:
    # One createIndexes per collection, all collections at once: one round trip of latency.
    await asyncio.gather(
        *(
            db[collection].create_indexes([IndexModel(keys, **options) for keys, options in specs])
            for collection, specs in layout.indexes().items()
        )
    )
