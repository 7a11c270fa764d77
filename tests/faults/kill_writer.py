"""A child process that kills itself with SIGKILL (or pauses) as its N-th write command starts.

``python -m tests.faults.kill_writer URI N ACTION [ARG]``:

- ``ACTION`` a number: overwrite chunk ``img/c/0`` of the array ``img`` with
  that value (every element), through a MongoStore whose GridFS threshold
  puts the chunk in GridFS;
- ``fsck``: ``fsck(store, repair=True, grace=0)``;
- ``delete PATH``: ``delete_node(store, PATH)``;
- ``pause VALUE``: the overwrite, but at the write N names print ``paused``
  and wait for a line on stdin instead of dying (the parent runs something in
  between). Here N is a command name or collection: ``zarr.chunks`` (the
  pointer swap) or ``delete`` (the old file's deletion), so the point does not
  depend on how many writes come before it.

PyMongo command monitoring (public API) picks the exact point, whatever
mongozarr's internals. Prints ``completed`` if it got to the end.
"""

from __future__ import annotations

import os
import signal
import sys

import zarr
from pymongo import monitoring

from mongozarr import MongoStore, delete_node
from mongozarr.maintenance.fsck import fsck

WRITES = {"insert", "update", "findAndModify", "delete"}


class KillAt(monitoring.CommandListener):
    def __init__(self, n: int | str, pause: bool = False) -> None:
        self.n = n
        self.pause = pause
        self.seen = 0
        self.matched = False

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in WRITES:
            return
        self.seen += 1
        if isinstance(self.n, str):
            if self.matched or self.n not in (event.command_name, event.command.get(event.command_name)):
                return
            self.matched = True  # the first match only
        elif self.seen != self.n:
            return
        if not self.pause:
            os.kill(os.getpid(), signal.SIGKILL)
        # The command is not sent until the parent says so.
        print("paused", flush=True)
        sys.stdin.readline()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def main() -> None:
    uri, point, action = sys.argv[1], sys.argv[2], sys.argv[3]
    monitoring.register(KillAt(int(point) if point.isdigit() else point, pause=action == "pause"))
    store = MongoStore(uri, inline_threshold=16)
    if action == "fsck":
        fsck(store, repair=True, grace=0)
    elif action == "delete":
        delete_node(store, sys.argv[4])
    else:
        value = float(sys.argv[4] if action == "pause" else action)
        zarr.open_array(store=store, path="img", mode="r+")[:64] = value
    print("completed", flush=True)


if __name__ == "__main__":
    main()
