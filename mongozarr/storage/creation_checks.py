"""The ancestors of a node about to be created, read in the same query as the node.

zarr creates a group or array in three steps: it reads the node (to refuse an
existing one), then reads every ancestor (to refuse an array among them), then
writes. The first read fetches the ancestors' documents too, in the same
``find``, and when the node is absent they answer the second step's reads: one
round trip less for every creation.

What was fetched answers only:

- reads in the task that made the first read and the tasks it starts after it
  (a :class:`~contextvars.ContextVar`; zarr checks the ancestors in tasks it
  gathers right then);
- each ancestor's metadata key once;
- while nothing has been written through a store on the same data (the walk
  clock's generation), so nothing older than the last write this process made
  is served. A read of anything else in the same task drops them.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from mongozarr.storage.walk_snapshots import WalkClock

__all__ = ["AncestorDocuments", "held_ancestor", "hold_ancestors"]


class AncestorDocuments:
    """The ancestors' documents (None: absent) read with a node that was absent."""

    def __init__(self, clock: WalkClock, docs: dict[str, dict[str, Any] | None]) -> None:
        self.clock = clock
        self.generation = clock.generation
        self.docs = docs
        self.served: set[tuple[str, str]] = set()

    def take(self, path: str, name: str) -> tuple[bool, dict[str, Any] | None]:
        """(True, the document or None if absent) once per key while current; else (False, None)."""
        if self.generation != self.clock.generation or path not in self.docs or (path, name) in self.served:
            return False, None
        self.served.add((path, name))
        return True, self.docs[path]


_HELD: ContextVar[AncestorDocuments | None] = ContextVar("mongozarr_creation_checks", default=None)


def hold_ancestors(clock: WalkClock, docs: dict[str, dict[str, Any] | None]) -> None:
    """Keep ``docs`` for the ancestor checks that follow in this task."""
    _HELD.set(AncestorDocuments(clock, docs) if docs else None)


def held_ancestor(path: str, name: str) -> tuple[bool, dict[str, Any] | None]:
    """The held document of ``path`` for one read of ``name``: (True, doc or None), or (False, None)."""
    held = _HELD.get()
    if held is None:
        return False, None
    found = held.take(path, name)
    if not found[0]:
        _HELD.set(None)  # another read: this creation's checks are over
    return found
