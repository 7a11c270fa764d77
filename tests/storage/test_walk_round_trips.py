"""Walking a hierarchy that is not consolidated: about one round trip per level (wire tier).

The tree has 4 levels: the root, 6 groups, 5 subgroups each, 3 arrays each
(127 nodes, 37 groups). The budget is levels + 2 = 6 round trips, opening
the root included. Staleness: a walk snapshot never outlives a write through
the store, a newer document seen, or the walk itself.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import xarray as xr
import zarr
import zarr.api.asynchronous as zasync

from mongozarr import open_tree
from mongozarr.monitoring import monitored_store
from tests import raw

pytestmark = pytest.mark.wire

GROUPS, SUBGROUPS, ARRAYS = 6, 5, 3
LEVELS = 4
BUDGET = LEVELS + 2
ALL_MEMBERS = GROUPS + GROUPS * SUBGROUPS + GROUPS * SUBGROUPS * ARRAYS


def _build(store: object) -> None:
    root = zarr.open_group(store=store, mode="w", attributes={"kind": "root"})
    for g in range(GROUPS):
        group = root.create_group(f"g{g}", attributes={"g": g})
        for s in range(SUBGROUPS):
            sub = group.create_group(f"s{s}", attributes={"s": s})
            for a in range(ARRAYS):
                sub.create_array(
                    f"a{a}", shape=(4,), chunks=(2,), dtype="u1", attributes={"a": a}, dimension_names=["x"]
                )


def _expected() -> set[str]:
    paths = set()
    for g in range(GROUPS):
        paths.add(f"g{g}")
        for s in range(SUBGROUPS):
            paths.add(f"g{g}/s{s}")
            paths.update(f"g{g}/s{s}/a{a}" for a in range(ARRAYS))
    return paths


@pytest.fixture
def tree_uri(wire_uri: str) -> str:
    store, _ = monitored_store(wire_uri)
    _build(store)
    # A few chunks, so chunk nodes exist (they must not add round trips).
    zarr.open_array(store, path="g0/s0/a0", mode="r+")[:] = 1
    store.close()
    return wire_uri


def test_members_deep_in_levels_plus_two(tree_uri: str) -> None:
    store, counter = monitored_store(tree_uri)
    with counter.measure() as trips:
        root = zarr.open_group(store=store, mode="r")
        members = dict(root.members(max_depth=None))
    store.close()
    assert set(members) == _expected()
    assert members["g3/s2/a1"].attrs["a"] == 1
    assert members["g5/s4"].attrs["s"] == 4
    assert trips.total <= BUDGET, trips.by_command


def test_group_tree_in_levels_plus_two(tree_uri: str) -> None:
    store, counter = monitored_store(tree_uri)
    with counter.measure() as trips:
        text = repr(zarr.open_group(store=store, mode="r").tree(plain=True))
    store.close()
    assert "a2" in text and "s4" in text and "g5" in text
    assert trips.total <= BUDGET, trips.by_command


def test_tree_walk_in_levels_plus_two(tree_uri: str) -> None:
    store, counter = monitored_store(tree_uri)
    with counter.measure() as trips:
        tree = open_tree(store)
        paths = {node.path for node in tree.walk("/")}
    store.close()
    assert {p.strip("/") for p in paths} - {""} == _expected()
    assert trips.total <= BUDGET, trips.by_command


def test_walk_of_a_subgroup_in_its_levels_plus_two(tree_uri: str) -> None:
    store, counter = monitored_store(tree_uri)
    with counter.measure() as trips:
        members = dict(zarr.open_group(store=store, path="g2", mode="r").members(max_depth=None))
    store.close()
    assert set(members) == {f"s{s}" for s in range(SUBGROUPS)} | {
        f"s{s}/a{a}" for s in range(SUBGROUPS) for a in range(ARRAYS)
    }
    assert trips.total <= 3 + 2, trips.by_command


def test_open_datatree_walk_is_counted(tree_uri: str) -> None:
    """Without a snapshot scope xarray's separate calls are walks of their own: a bound per group."""
    store, counter = monitored_store(tree_uri)
    with counter.measure() as trips:
        tree = xr.open_datatree(store, engine="zarr", consolidated=False, zarr_format=3)
    store.close()
    assert "/g1/s3" in tree.groups
    groups = 1 + GROUPS + GROUPS * SUBGROUPS
    # Not levels + 2: each group is listed twice, in separate calls (measured: 7 per group).
    assert trips.total <= 7 * groups, trips.by_command


def test_open_datatree_in_a_snapshot_in_levels_plus_two(tree_uri: str) -> None:
    """``store.snapshot()`` spans xarray's calls: one walk, about one query per level."""
    store, counter = monitored_store(tree_uri)
    with counter.measure() as trips, store.snapshot():
        tree = xr.open_datatree(store, engine="zarr", consolidated=False, zarr_format=3)
    store.close()
    assert set(tree.groups) == {"/"} | {f"/{p}" for p in _expected() if p.count("/") < 2}
    assert tree["g3/s2"].attrs["s"] == 2 and tree.attrs["kind"] == "root"
    assert list(tree["g4/s1"].data_vars) == [f"a{a}" for a in range(ARRAYS)]
    assert trips.total <= BUDGET, trips.by_command


def test_a_snapshot_ends_with_a_write_and_with_its_block(tree_uri: str) -> None:
    """Inside the block a write through a store on the same data ends the snapshot;
    another process's change is seen once the block ends (never served after it)."""
    reader, _ = monitored_store(tree_uri)
    writer, _ = monitored_store(tree_uri)
    nodes = raw.database(tree_uri)["zarr.nodes"]
    with reader.snapshot():
        first = dict(zarr.open_group(store=reader, mode="r").members(max_depth=None))
        # Another process changes a node: the block keeps the hierarchy it found.
        nodes.update_one({"_id": "g2/s0"}, {"$set": {"attributes.s": "elsewhere"}, "$inc": {"version": 1}})
        held = zarr.open_group(store=reader, path="g2/s0", mode="r").attrs["s"]
        # A write through a store on the same data ends the snapshot.
        zarr.open_group(store=writer, path="g1/s1", mode="r+").attrs["s"] = "written"
        after_write = dict(zarr.open_group(store=reader, mode="r").members(max_depth=None))
    after_block = zarr.open_group(store=reader, path="g2/s0", mode="r").attrs["s"]
    reader.close()
    writer.close()
    assert first["g1/s1"].attrs["s"] == 1 and held == 0
    assert after_write["g1/s1"].attrs["s"] == "written"
    assert after_write["g2/s0"].attrs["s"] == "elsewhere"
    assert after_block == "elsewhere"


async def test_a_snapshot_scope_spans_the_tasks_of_an_async_block(tree_uri: str) -> None:
    """In async code the scope covers the walks of the tasks the block starts."""
    store, counter = monitored_store(tree_uri)
    with counter.measure() as trips, store.snapshot():
        root = await zasync.open_group(store=store, mode="r")
        walked = {path async for path, _ in root.members(max_depth=None)}
        # Each group opened by path and listed again, in tasks of their own.
        groups = sorted(p for p in walked if p.count("/") < 2)

        async def relist(path: str) -> list[str]:
            group = await zasync.open_group(store=store, path=path, mode="r")
            return [name async for name, _ in group.members()]

        listings = await asyncio.gather(*(asyncio.create_task(relist(p)) for p in groups))
    await store.close_async()
    assert walked == _expected()
    assert all(len(names) in (SUBGROUPS, ARRAYS) for names in listings)
    assert trips.total <= BUDGET, trips.by_command


def test_second_walk_sees_a_write_from_another_store(tree_uri: str) -> None:
    reader, _ = monitored_store(tree_uri)
    writer, _ = monitored_store(tree_uri)
    first = dict(zarr.open_group(store=reader, mode="r").members(max_depth=None))
    assert first["g4/s1"].attrs["s"] == 1
    zarr.open_group(store=writer, path="g4/s1", mode="r+").attrs["s"] = "changed"
    zarr.open_group(store=writer, path="g4/s1", mode="r+").create_array("late", shape=(1,), dtype="u1")
    second = dict(zarr.open_group(store=reader, mode="r").members(max_depth=None))
    reader.close()
    writer.close()
    assert second["g4/s1"].attrs["s"] == "changed"
    assert "g4/s1/late" in second and "g4/s1/late" not in first


async def test_walks_in_one_task_each_see_the_database(tree_uri: str) -> None:
    """Two walks in one task (one context): the second lists the root again and starts afresh."""
    reader, _ = monitored_store(tree_uri)
    writer, _ = monitored_store(tree_uri)
    root = await zasync.open_group(store=reader, mode="r")
    first = {path: node async for path, node in root.members(max_depth=None)}
    group = await zasync.open_group(store=writer, path="g1/s2", mode="r+")
    await group.update_attributes({"s": "changed"})
    root = await zasync.open_group(store=reader, mode="r")
    second = {path: node async for path, node in root.members(max_depth=None)}
    # A later plain read in the same task is not served from the finished walk.
    again = await zasync.open_group(store=reader, path="g1/s2", mode="r")
    await reader.close_async()
    await writer.close_async()
    assert first["g1/s2"].attrs["s"] == 2
    assert second["g1/s2"].attrs["s"] == "changed"
    assert again.attrs["s"] == "changed"


async def test_write_through_the_store_during_a_walk_ends_its_snapshot(tree_uri: str) -> None:
    store, _ = monitored_store(tree_uri)
    root = await zasync.open_group(store=store, mode="r+")
    seen = {}
    async for path, node in root.members(max_depth=None):
        seen[path] = node
        if path == "g0":
            # The walk has fetched the first level only; deeper levels come after this write.
            target = await zasync.open_group(store=store, path="g5/s4", mode="r+")
            await target.update_attributes({"s": "written mid-walk"})
            await target.create_array("new", shape=(1,), dtype="u1")
    await store.close_async()
    assert seen["g5/s4"].attrs["s"] == "written mid-walk"
    assert "g5/s4/new" in seen


async def test_newer_version_seen_ends_the_snapshot(tree_uri: str) -> None:
    """A read (outside the snapshot) returning a newer version of a node the snapshot holds."""
    reader, _ = monitored_store(tree_uri)
    writer, _ = monitored_store(tree_uri)
    root = await zasync.open_group(store=reader, mode="r")
    seen = {}
    async for path, node in root.members(max_depth=None):
        seen[path] = node
        if path == "g0":
            g1 = await zasync.open_group(store=writer, path="g1", mode="r+")
            await g1.update_attributes({"g": "newer"})
            # g1's zarr.json was served by the snapshot already: this read goes to the database.
            assert (await zasync.open_group(store=reader, path="g1", mode="r")).attrs["g"] == "newer"
            await g1.create_group("fresh")
    await reader.close_async()
    await writer.close_async()
    assert "g1/fresh" in seen


async def test_concurrent_listings_of_one_level_share_one_query(tree_uri: str) -> None:
    store, counter = monitored_store(tree_uri)
    root = await zasync.open_group(store=store, mode="r")
    groups = [node async for _, node in root.members()]
    with counter.measure() as trips:
        listings = await asyncio.gather(*(_names(store, group.path) for group in groups))
    await store.close_async()
    assert all(sorted(names) == [f"s{s}" for s in range(SUBGROUPS)] + ["zarr.json"] for names in listings)
    assert trips.by_command == {"find": 1}


async def _names(store: object, path: str) -> list[str]:
    return [name async for name in store.list_dir(path)]  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", ["tree", "ls"])
def test_cli_tree_and_ls_in_levels_plus_two(
    tree_uri: str, command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mongozarr.cli import tree_commands

    store, counter = monitored_store(tree_uri)
    monkeypatch.setattr(tree_commands, "_open", lambda uri, prefix: open_tree(store))
    with counter.measure() as trips:
        if command == "tree":
            tree_commands.tree_command(path="/", uri=tree_uri, as_json=True)
        else:
            tree_commands.ls_command(path="/g1/s2", uri=tree_uri, as_json=True)
    store.close()
    out = capsys.readouterr().out
    assert "g5/s4/a2" in out if command == "tree" else "g1/s2/a2" in out
    assert trips.total <= BUDGET, trips.by_command


@pytest.mark.slow
def test_walk_costs_do_not_grow_with_the_tree(tmp_path: Path) -> None:
    """100, 1,000 and 5,000 nodes (in 31 and 421 groups), preloaded into the server's
    SQLite file as the benchmark does: every walk is levels + 2 = 6 round trips."""
    from benchmarks import hierarchy, walk
    from mongozarr.testing import WireServer, wire_server_available

    if reason := wire_server_available():
        pytest.skip(f"wire tier not run: {reason}")
    shapes = {"t100": (100, None), "t1000": (1000, None), "t5000x20": (5000, 20)}
    trees = {name: walk._nodes(count, fanout) for name, (count, fanout) in shapes.items()}
    hierarchy.load_into_sqlite(
        tmp_path, {(name, "zarr.nodes"): list(hierarchy.node_documents(t)) for name, t in trees.items()}
    )
    counts = {}
    with WireServer(tmp_path) as server:
        for name, tree in trees.items():
            store, counter = monitored_store(server.uri(name))
            with counter.measure() as trips:
                members = dict(zarr.open_group(store=store, mode="r").members(max_depth=None))
            store.close()
            assert set(members) == {path for path, _, _ in tree[1:]}, name
            counts[name] = (sum(kind == "group" for _, kind, _ in tree), trips.total)
    assert counts["t5000x20"][0] > 400  # groups
    assert all(total <= BUDGET for _, total in counts.values()), counts
