"""The ``mongozarr`` command line: the typer app, assembled from the command modules."""

from __future__ import annotations

import typer

from mongozarr.cli import demo, transfer_commands, tree_commands, watch

__all__ = ["app", "main"]

app = typer.Typer(
    help="MongoDB as a home for zarr data: inspect, query and demo a hierarchy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """MongoDB as a home for zarr data: inspect, query and demo a hierarchy."""


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


def main() -> None:
    """Entry point of the ``mongozarr`` script."""
    app()


if __name__ == "__main__":
    main()
