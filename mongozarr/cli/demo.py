"""``mongozarr demo``: the story of mongozarr in one terminal screen.

A small imaging hierarchy goes into MongoDB; concurrent writers update the
same group's attributes through plain zarr code (and none of their keys is
lost, where a directory store loses all but one writer's); a MongoDB query
finds arrays by attribute; the hierarchy is copied out to a directory.
"""

from __future__ import annotations

import tempfile
import threading
from typing import Any

import numpy as np
import zarr
from rich.console import Console
from rich.table import Table
from zarr.abc.store import Store
from zarr.core.sync import sync
from zarr.storage import LocalStore

from mongozarr.cli.options import PrefixOption, UriOption
from mongozarr.cli.rendering import cli_errors, console, node_summary, render_tree
from mongozarr.cli.target import resolve_uri, split_prefix
from mongozarr.errors import InvalidInputError
from mongozarr.storage.store import MongoStore
from mongozarr.transfer import copy

__all__ = ["concurrent_writers", "demo_command", "run_demo"]

_WRITERS = 4
_UPDATES = 3
_STAINS = ("dapi", "gfp")


def _write_hierarchy(store: MongoStore) -> zarr.Group:
    root = zarr.open_group(store=store, mode="w", attributes={"lab": "imaging", "project": "demo"})
    rng = np.random.default_rng(7)
    for subject in ("mouse-7", "mouse-8"):
        group = root.create_group(subject, attributes={"subject": subject})
        for session in range(2):
            image = group.create_array(
                f"session{session}",
                shape=(64, 64),
                chunks=(32, 32),
                dtype="uint16",
                attributes={"subject": subject, "session": session, "stain": _STAINS[session]},
            )
            image[:] = rng.integers(0, 4096, size=(64, 64), dtype="uint16")
    return root


def concurrent_writers(
    make_store: Any, writers: int = _WRITERS, updates: int = _UPDATES
) -> dict[str, Any]:
    """Let ``writers`` threads update the root group's attributes at once.

    Each thread has its own store (``make_store()``) and opens the group
    before any of them writes, as separate processes would; each then sets
    ``updates`` keys of its own through ``group.attrs``. Returns the root
    attributes afterwards.
    """
    opened = threading.Barrier(writers)

    def write(writer: int) -> None:
        group = zarr.open_group(store=make_store(), mode="r+")
        opened.wait()  # every writer now holds the same, soon stale, metadata
        for update in range(updates):
            group.attrs[f"writer{writer}-update{update}"] = writer * 10 + update

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return dict(zarr.open_group(store=make_store(), mode="r").attrs)


def _count_writer_keys(attributes: dict[str, Any]) -> int:
    return sum(key.startswith("writer") for key in attributes)


async def _query(store: MongoStore, query: dict[str, Any]) -> list[dict[str, Any]]:
    return await store.nodes().find(query, {"_id": 1, "attributes": 1}).sort("_id", 1).to_list()


def _show_concurrency(uri: str, prefix: str, console: Console) -> None:
    expected = _WRITERS * _UPDATES
    console.print(
        f"\n[bold]{_WRITERS} concurrent writers[/], each with its own store, "
        f"each setting {_UPDATES} attributes of the root group with plain zarr code:"
    )
    kept = _count_writer_keys(concurrent_writers(lambda: MongoStore(uri, prefix=prefix)))
    with tempfile.TemporaryDirectory(prefix="mongozarr-demo-") as directory:
        zarr.open_group(store=LocalStore(directory), mode="w", attributes={"lab": "imaging"})
        baseline = _count_writer_keys(concurrent_writers(lambda: LocalStore(directory)))
    table = Table("store", "writer keys kept", "of")
    table.add_row("MongoStore", f"[green]{kept}[/]", str(expected))
    table.add_row("LocalStore (a directory)", f"[red]{baseline}[/]", str(expected))
    console.print(table)
    console.print(
        "MongoStore sends only the keys each writer changed, and MongoDB applies them "
        "atomically; a file store rewrites the whole zarr.json from each writer's stale copy."
    )


def _show_query(store: MongoStore, console: Console) -> None:
    query = {"attributes.subject": "mouse-7", "node_type": "array"}
    console.print(f"\nMongo query on [bold]{store.layout.nodes}[/]: {query}")
    table = Table("node", "attributes")
    for doc in sync(_query(store, query)):
        table.add_row("/" + doc["_id"], str(doc["attributes"]))
    console.print(table)


def _show_copy(store: Store, console: Console) -> None:
    with tempfile.TemporaryDirectory(prefix="mongozarr-demo-") as directory:
        report = copy(store, directory)
        console.print(
            f"\n[bold]Copied out[/] to a directory: {report.keys} keys "
            f"({report.bytes_copied / 1e3:.1f} kB), verified: {report.verified}, "
            f"in {report.seconds:.2f} s (mongozarr copy / export / import)."
        )
        copied = zarr.open_group(store=LocalStore(directory, read_only=True), mode="r")
        image = copied["mouse-7/session0"]
        console.print(
            f"/mouse-7/session0 there: {image.shape} {image.dtype}, attributes {dict(image.attrs)}"
        )


def _tree_rows(group: zarr.Group) -> list[dict[str, Any]]:
    """Summaries of a group and every node below it, parents first."""
    members = sorted(group.members(max_depth=None), key=lambda member: member[0])
    return [node_summary(group), *(node_summary(node) for _, node in members)]


def run_demo(uri: str, prefix: str, console: Console = console) -> None:
    """Write, update concurrently, query and copy out a small hierarchy at ``uri``."""
    store = MongoStore(uri, prefix=prefix)
    console.print(f"[bold]mongozarr demo[/] on {store}")
    _write_hierarchy(store)
    console.print(render_tree(_tree_rows(zarr.open_group(store=store, mode="r")), str(store)))
    _show_concurrency(uri, prefix, console)
    _show_query(store, console)
    _show_copy(store, console)


#: Where the demo writes when no store is configured: in this process, gone at exit.
TEMPORARY_URI = "mongomock://mongozarr-demo"


def demo_command(uri: UriOption = None, prefix: PrefixOption = None) -> None:
    """Write a small imaging hierarchy, print its tree and one attribute query.

    Uses the configured store (--uri, MONGOZARR_URI, mongozarr.toml), else a
    temporary in-process one, and says which.
    """
    with cli_errors():
        try:
            target = resolve_uri(uri)
        except InvalidInputError:
            target = TEMPORARY_URI
            console.print(
                "[dim]No store configured: the demo uses a temporary in-process store, gone when it "
                "ends. To keep it: mongozarr serve ./lab --detach, then pass the URI it prints.[/]"
            )
        base, name = split_prefix(target, prefix or "demo")
        run_demo(base, name)
