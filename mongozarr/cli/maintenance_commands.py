"""The maintenance commands: ``fsck``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from mongozarr.cli.options import JsonOption, PrefixOption, UriOption
from mongozarr.cli.rendering import cli_errors, console, megabytes, print_json
from mongozarr.cli.target import open_store
from mongozarr.maintenance.fsck import DEFAULT_GRACE, fsck

__all__ = ["fsck_command"]

#: Exit code when fsck found something (and did not repair all of it).
FOUND_PROBLEMS = 1


def fsck_command(
    repair: Annotated[
        bool, typer.Option("--repair", help="Remove orphan GridFS files (needs a writable store).")
    ] = False,
    grace: Annotated[
        float, typer.Option("--grace", help="Seconds; younger unreferenced files may be uploads in flight.")
    ] = DEFAULT_GRACE,
    uri: UriOption = None,
    prefix: PrefixOption = None,
    as_json: JsonOption = False,
) -> None:
    """Find what crashes and hand edits left: GridFS orphans, lost chunks, unreadable nodes."""
    with cli_errors():
        store = open_store(uri, prefix, read_only=not repair)
        report = fsck(store, repair=repair, grace=grace)
    if as_json:
        print_json({
            "orphan_files": [str(i) for i in report.orphan_files],
            "orphan_bytes": report.orphan_bytes,
            "orphan_pieces": [str(i) for i in report.orphan_pieces],
            "lost_chunks": report.lost_chunks,
            "lost_objects": [{"key": k, "object": o} for k, o in report.lost_objects],
            "unchecked_objects": report.unchecked_objects,
            "malformed_nodes": [{"path": p, "problem": why} for p, why in report.malformed_nodes],
            "nodes_without_parent": report.nodes_without_parent,
            "chunks_without_node": [{"node": n, "chunks": c, "bytes": b} for n, c, b in report.chunks_without_node],
            "stale_appends": [{"path": p, "record": r} for p, r in report.stale_appends],
            "expired_leases": report.expired_leases,
            "dangling_links": [{"source": s, "relation": r, "target": t} for s, r, t in report.dangling_links],
            "indexes": report.indexes,
            "repaired": report.repaired,
        })
    else:
        done = "removed" if report.repaired else "found (remove with --repair)"
        console.print(f"{store}: {len(report.orphan_files)} orphan GridFS files "
                      f"({megabytes(report.orphan_bytes)}) and {len(report.orphan_pieces)} orphan "
                      f"piece sets {done}")
        external = dict(report.lost_objects)
        for key in report.lost_chunks:
            where = f"its object {external[key]} is gone" if key in external else "its GridFS data is gone"
            console.print(f"lost chunk ({escape(where)}; kept, not repaired): {escape(key)}")
        if report.unchecked_objects:
            console.print(f"{report.unchecked_objects} chunk(s) in an external object store not checked: "
                          "open the store with its chunks= store (Python: mongozarr.fsck) to check them")
        for path, why in report.malformed_nodes:
            console.print(f"unreadable node /{escape(path)}: {escape(why)}")
        for path in report.nodes_without_parent:
            console.print(f"node /{escape(path)} has no parent node document")
        for node, chunks, nbytes in report.chunks_without_node:
            console.print(f"{chunks} chunk(s), {megabytes(nbytes)}, of missing node /{escape(node)}")
        for path, record in report.stale_appends:
            console.print(f"append {escape(record)} on /{escape(path)} never completed "
                          "(mongozarr.forget_append releases it)")
        for source, relation, target in report.dangling_links:
            console.print(f"dangling link /{escape(source)} --{escape(relation)}--> /{escape(target)} "
                          "(mongozarr.unlink_dangling removes it)")
        console.print(f"{len(report.expired_leases)} expired lease(s); indexes: {', '.join(report.indexes)}")
    unrepaired = report.lost_chunks or report.malformed_nodes or report.nodes_without_parent or (
        report.chunks_without_node or report.stale_appends) or (
        not report.repaired and (report.orphan_files or report.orphan_pieces))
    if unrepaired:
        raise typer.Exit(FOUND_PROBLEMS)
