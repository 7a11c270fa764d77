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
            "malformed_nodes": [{"path": p, "problem": why} for p, why in report.malformed_nodes],
            "repaired": report.repaired,
        })
    else:
        done = "removed" if report.repaired else "found (remove with --repair)"
        console.print(f"{store}: {len(report.orphan_files)} orphan GridFS files "
                      f"({megabytes(report.orphan_bytes)}) and {len(report.orphan_pieces)} orphan "
                      f"piece sets {done}")
        for key in report.lost_chunks:
            console.print(f"lost chunk (its GridFS data is gone): {escape(key)}")
        for path, why in report.malformed_nodes:
            console.print(f"unreadable node /{escape(path)}: {escape(why)}")
    unrepaired = report.lost_chunks or report.malformed_nodes or (
        not report.repaired and (report.orphan_files or report.orphan_pieces))
    if unrepaired:
        raise typer.Exit(FOUND_PROBLEMS)
