"""``mongozarr demo``: the story of mongozarr in one terminal screen."""

from __future__ import annotations

import numpy as np
import zarr
from rich.console import Console
from rich.table import Table
from zarr.core.sync import sync

from mongozarr._store import MongoStore

__all__ = ["run_demo"]


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
                attributes={"subject": subject, "session": session, "stain": ["dapi", "gfp"][session]},
            )
            image[:] = rng.integers(0, 4096, size=(64, 64), dtype="uint16")
    return root


async def _query(store: MongoStore, query: dict) -> list[dict]:
    nodes = store.database()[store.nodes_collection_name]
    return await nodes.find(query, {"_id": 1, "attributes": 1}).sort("_id", 1).to_list()


def run_demo(uri: str, prefix: str, console: Console) -> None:
    """Write, show and query a small hierarchy at ``uri``."""
    from mongozarr.cli import render_tree

    store = MongoStore(uri, prefix=prefix)
    console.print(f"[bold]mongozarr demo[/] on {store}")
    root = _write_hierarchy(store)
    console.print(render_tree(zarr.open_group(store=store, mode="r"), label=str(store)))
    query = {"attributes.subject": "mouse-7", "node_type": "array"}
    console.print(f"\nMongo query on [bold]{store.nodes_collection_name}[/]: {query}")
    table = Table("node", "attributes")
    for doc in sync(_query(store, query)):
        table.add_row("/" + doc["_id"], str(doc["attributes"]))
    console.print(table)
    del root
