"""A writer that kills itself with SIGKILL as its N-th write command starts.

Run as ``python -m tests.faults.kill_writer URI N VALUE``: it overwrites chunk
``img/c/0`` of the array ``img`` with ``VALUE`` (every element), through a
MongoStore whose GridFS threshold puts the chunk in GridFS. PyMongo command
monitoring (public API) picks the exact point, whatever mongozarr's internals.
"""

from __future__ import annotations

import os
import signal
import sys

import zarr
from pymongo import monitoring

from mongozarr import MongoStore

WRITES = {"insert", "update", "findAndModify", "delete"}


class KillAt(monitoring.CommandListener):
    def __init__(self, n: int) -> None:
        self.n = n
        self.seen = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in WRITES:
            self.seen += 1
            if self.seen == self.n:
                os.kill(os.getpid(), signal.SIGKILL)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def main() -> None:
    uri, n, value = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    monitoring.register(KillAt(n))
    arr = zarr.open_array(store=MongoStore(uri, inline_threshold=16), path="img", mode="r+")
    arr[:64] = value
    print("completed", flush=True)


if __name__ == "__main__":
    main()
