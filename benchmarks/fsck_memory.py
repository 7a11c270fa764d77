"""fsck's GridFS check on N chunk documents: peak Python memory and time, before and after streaming.

Before (the algorithm up to this change, kept here for comparison only): a
dict of every GridFS pointer ``file id -> chunk key``, a set of every files
document id, and ``distinct("files_id")`` of every piece, all in memory.
After (``mongozarr.maintenance.fsck``): a merge join of three streams
sorted by file id, one reply batch of each in memory.

The collections are served by a small in-process fake that generates the
documents a real server would send, in the order the queries ask, one reply
batch at a time (as a driver cursor holds them). Neither mongomock nor the
wire tier can be used to measure the client alone: mongomock copies every
result of a query into a Python list before the first document (so it shows
its own O(N) in the client's memory, for both algorithms), and the mongoeco
wire tier inserts about 25 documents a second (measured: 1,000 in 44 s), so a
store of 10^5 chunk documents cannot be built in minutes.

Half the chunk documents are inline (never part of the GridFS check), half
point to a GridFS file; 1% more files are orphans (no chunk document), and
every file has pieces. Both algorithms must report the same orphans.

    python benchmarks/fsck_memory.py [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from typing import Any

from bson import ObjectId

from mongozarr.layout import GRIDFS_ID, Layout
from mongozarr.maintenance.fsck import _BATCH, _gridfs_join

LAYOUT = Layout("zarr")


def _file_id(n: int) -> ObjectId:
    # Increasing with n, and old (1970): past any grace period.
    return ObjectId(n.to_bytes(12, "big"))


class _Cursor:
    """Documents from a generator, in reply batches of ``batch`` (as a driver cursor)."""

    def __init__(self, docs: Iterator[dict[str, Any]], batch: int = 101) -> None:
        self._docs = docs
        self._batch = batch

    def sort(self, *args: Any) -> _Cursor:
        return self  # the generators already yield in the order asked for

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            reply = [doc for _, doc in zip(range(self._batch), self._docs, strict=False)]
            if not reply:
                return
            for doc in reply:
                yield doc


class _Collection:
    def __init__(self, name: str, store: _Store) -> None:
        self.name = name
        self.store = store

    def find(self, query: dict[str, Any], projection: Any = None, batch_size: int = 101) -> _Cursor:
        odd = "$not" in str(query)  # the ids that are not ObjectIds: there are none
        return _Cursor(iter(()) if odd else self.store.docs(self.name), batch_size)

    async def aggregate(self, pipeline: list[dict[str, Any]], batchSize: int = 101) -> _Cursor:
        odd = "$not" in str(pipeline)
        return _Cursor(iter(()) if odd else ({"_id": file_id} for file_id in self.store.files()), batchSize)

    async def distinct(self, field: str) -> list[Any]:
        return list(self.store.files())


class _Store:
    """N chunk documents: even ones inline, odd ones in GridFS; 1% more files are orphans."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.gridfs = n // 2
        self.orphans = max(1, n // 100)

    def files(self) -> Iterator[ObjectId]:
        return (_file_id(i) for i in range(self.gridfs + self.orphans))

    def docs(self, name: str) -> Iterator[dict[str, Any]]:
        if name == LAYOUT.chunks:  # only those that point to GridFS are asked for
            return ({"_id": f"img/c/{i}/0", GRIDFS_ID: _file_id(i)} for i in range(self.gridfs))
        return ({"_id": file_id, "length": 1 << 20} for file_id in self.files())

    def __getitem__(self, name: str) -> _Collection:
        return _Collection(name, self)


async def _before(db: _Store) -> list[ObjectId]:
    # The check as it was: every pointer, every file id, every piece group in memory.
    referenced: dict[ObjectId, str] = {}
    async for doc in db[LAYOUT.chunks].find({GRIDFS_ID: {"$exists": True}}, {GRIDFS_ID: 1}):
        referenced[doc[GRIDFS_ID]] = doc["_id"]
    files: set[ObjectId] = set()
    orphans = []
    async for doc in db[LAYOUT.fs_files].find({}, {"_id": 1, "length": 1}):
        files.add(doc["_id"])
        if doc["_id"] not in referenced:
            orphans.append(doc["_id"])
    for files_id in await db[LAYOUT.fs_chunks].distinct("files_id"):
        assert files_id in files or files_id in referenced
    return orphans


async def _after(db: _Store) -> list[ObjectId]:
    orphans = []
    async for file_id, keys, files_doc, _ in _gridfs_join(db, LAYOUT):
        if not keys and files_doc is not None:
            orphans.append(file_id)
    return orphans


def _measure(check: Any, n: int) -> tuple[float, float, int]:
    """Peak traced MiB (one run under tracemalloc), seconds (another run, untraced), orphans."""
    tracemalloc.start()
    asyncio.run(check(_Store(n)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    started = time.perf_counter()
    orphans = asyncio.run(check(_Store(n)))
    return peak / 2**20, time.perf_counter() - started, len(orphans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args()
    print("command: python benchmarks/fsck_memory.py --sizes " + " ".join(map(str, args.sizes)))
    print(f"reply batch {_BATCH} ids; peak memory from a run under tracemalloc, time from a run without\n")
    print("| chunk docs | GridFS files | before: peak MiB | before: s | after: peak MiB | after: s | orphans |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        before = _measure(_before, n)
        after = _measure(_after, n)
        assert before[2] == after[2], "the two algorithms disagree"
        files = n // 2 + max(1, n // 100)
        print(f"| {n:,} | {files:,} | {before[0]:.1f} | {before[1]:.2f} | {after[0]:.2f} | {after[1]:.2f} "
              f"| {after[2]:,} |", flush=True)


if __name__ == "__main__":
    main()
