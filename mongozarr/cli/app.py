"""The ``mongozarr`` command line: the typer app, assembled from the command modules."""

from __future__ import annotations

import warnings
from typing import Annotated

import typer

from mongozarr import __version__
from mongozarr.cli import (
    demo,
    maintenance_commands,
    node_commands,
    serve,
    transfer_commands,
    tree_commands,
    watch,
)
from mongozarr.cli.rendering import EXIT_CODES_HELP, show_warning
from mongozarr.cli.target import SESSION

__all__ = ["app", "main"]

app = typer.Typer(
    help="MongoDB as a home for zarr data: inspect, query and demo a hierarchy.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mongozarr {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Open every store read-only: no command writes.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="On an error, show the whole traceback instead of one line.")
    ] = False,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    """MongoDB as a home for zarr data: inspect, query and demo a hierarchy."""
    SESSION.read_only = read_only
    SESSION.debug = debug
    # Library warnings (a skipped malformed node, an ambiguous write) as one line each.
    warnings.showwarning = show_warning


app.command("demo")(demo.demo_command)
app.command("copy")(transfer_commands.copy_command)
app.command("export")(transfer_commands.export_command)
app.command("import")(transfer_commands.import_command)
app.command("ls")(tree_commands.ls_command)
app.command("tree")(tree_commands.tree_command)
app.command("info")(tree_commands.info_command)
app.command("get")(tree_commands.get_command)
app.command("set")(tree_commands.set_command)
app.command("update")(tree_commands.update_command)
app.command("find")(tree_commands.find_command)
app.command("watch")(watch.watch_command)
app.command("count")(node_commands.count_command)
app.command("distinct")(node_commands.distinct_command)
app.command("rm")(node_commands.rm_command)
app.command("du")(node_commands.du_command)
app.add_typer(node_commands.index_app, name="index")
app.command("fsck")(maintenance_commands.fsck_command)
app.command("serve")(serve.serve_command)


def main() -> None:
    """Entry point of the ``mongozarr`` script."""
    app()


if __name__ == "__main__":
    main()
