"""Listing chunks kept in S3: from MongoDB's chunk index, or from S3 itself.

``MongoStore(uri, chunks="s3://...")`` keeps one small index document per
chunk in MongoDB. This measures what that buys: listing every key, and
listing one directory, through the MongoStore (index) versus zarr's
ObjectStore on the same bucket (S3 LIST, 1,000 keys per page).

Runs moto's S3 server and the mongoeco wire server (or mongomock, with
``--mock``) on 127.0.0.1. Both are local, so the figures show request
counts and server-side cost, not network latency; against real S3 each of
the N/1000 LIST pages also pays a round trip of tens of milliseconds.

    python benchmarks/s3_listing.py [--chunks 3000] [--mock]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable

import boto3
from moto.server import ThreadedMotoServer
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

from mongozarr import MongoStore
from mongozarr.storage import open_store
from mongozarr.testing import WireServer, wire_server_available


async def _count(listing: Callable[[], AsyncIterator[str]]) -> int:
    # Called inside the loop: ObjectStore.list_dir starts its request on call.
    return sum([1 async for _ in listing()])


def _best_of(runs: int, listing: Callable[[], AsyncIterator[str]]) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(runs):
        started = time.perf_counter()
        count = sync(_count(listing))
        best = min(best, time.perf_counter() - started)
    return best, count


async def _populate(store: MongoStore, chunks: int) -> None:
    """One array's worth of 16-byte chunks in a 2-D grid: ``raw/img/c/<i>/<j>``."""
    side = 50
    limit = asyncio.Semaphore(32)
    buffer = default_buffer_prototype().buffer

    async def put(n: int) -> None:
        async with limit:
            key = f"raw/img/c/{n // side}/{n % side}"
            await store.set(key, buffer.from_bytes(n.to_bytes(16, "big")))

    await asyncio.gather(*(put(n) for n in range(chunks)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mock", action="store_true", help="mongomock instead of the wire server")
    args = parser.parse_args()

    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    host, port = s3.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ALLOW_HTTP="true",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
    )
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="mongozarr-bench")
    url = "s3://mongozarr-bench/lab"
    wire = None if args.mock or wire_server_available() else WireServer().start()
    try:
        uri = "mongomock://bench" if wire is None else wire.uri("bench")
        store = MongoStore(uri, chunks=url)
        started = time.perf_counter()
        sync(_populate(store, args.chunks))
        where = "mongomock" if wire is None else "the wire server"
        elapsed = time.perf_counter() - started
        print(f"{args.chunks} chunks written to S3, index on {where}, in {elapsed:.1f} s")
        bucket = open_store(url, "r")
        rows = [
            ("list()        MongoDB index", lambda: store.list()),
            ("list()        S3 LIST", lambda: bucket.list()),
            ("list_dir(c/0) MongoDB index", lambda: store.list_dir("raw/img/c/0")),
            ("list_dir(c/0) S3 LIST", lambda: bucket.list_dir("raw/img/c/0")),
            ("list_dir(c)   MongoDB index", lambda: store.list_dir("raw/img/c")),
            ("list_dir(c)   S3 LIST", lambda: bucket.list_dir("raw/img/c")),
        ]
        print(f"{'listing':32} {'keys':>6} {'best of ' + str(args.runs):>12}")
        for label, listing in rows:
            seconds, count = _best_of(args.runs, listing)
            print(f"{label:32} {count:>6} {seconds * 1e3:>9.1f} ms")
        print(f"S3 LIST pages for list(): {-(-args.chunks // 1000)} (1,000 keys per page)")
    finally:
        if wire is not None:
            wire.stop()
        s3.stop()


if __name__ == "__main__":
    main()
