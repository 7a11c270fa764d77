"""Counts the fault probes of this session for the table ``pytest tests/faults -s`` prints at the end.

A probe is one injected fault (a SIGKILL at a write command, a pause, a cut
connection) followed by the checks of its test. ``survived`` means every value
that was referenced before (or written by a completed write) reads back
whole; ``lost`` means one did not; orphans are the GridFS files and piece
sets fsck found, and repaired, after the probe.
"""

from __future__ import annotations

from collections import Counter

__all__ = ["TALLY", "record"]

TALLY: dict[str, Counter[str]] = {}


def record(family: str, *, survived: bool, orphans_found: int = 0, orphans_repaired: int = 0) -> None:
    """Count one probe of ``family``."""
    row = TALLY.setdefault(family, Counter())
    row["tried"] += 1
    row["survived" if survived else "lost"] += 1
    row["orphans found"] += orphans_found
    row["orphans repaired"] += orphans_repaired
