"""Every client a store opens is closed: by close(), when asyncio.run's loop ends, and at exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import asyncio, gc, sys, warnings
    warnings.simplefilter("error", ResourceWarning)
    import zarr
    from mongozarr import MongoStore, open_tree

    uri = sys.argv[1]

    async def main():
        store = MongoStore(uri)
        group = await zarr.api.asynchronous.open_group(store=store, mode="w")
        await group.create_array("a", shape=(3,), dtype="i4")

    asyncio.run(main())              # the loop ends: its client is closed with it
    gc.collect()
    store = MongoStore(uri)
    zarr.open_group(store=store, mode="r")
    store.close()                    # zarr's loop thread: closed there
    gc.collect()
    assert [n.path for n in open_tree(uri).find({})] == ["", "a"]   # left open: closed at exit
    print("done")
""")


@pytest.mark.wire
def test_no_client_is_left_unclosed(wire_uri: str) -> None:
    result = subprocess.run([sys.executable, "-X", "dev", "-c", SCRIPT, wire_uri], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    for trouble in ("Unclosed", "ResourceWarning", "never awaited", "Traceback"):
        assert trouble not in result.stderr, result.stderr


@pytest.mark.wire
async def test_close_inside_a_running_loop_closes_the_loops_client(wire_uri: str) -> None:
    import zarr

    from mongozarr import MongoStore

    store = MongoStore(wire_uri)
    await zarr.api.asynchronous.open_group(store=store, mode="w")
    store.close()
    # Reopened on next use, on this loop.
    group = await zarr.api.asynchronous.open_group(store=store, mode="r")
    assert group.path == ""
