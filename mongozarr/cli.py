"""The ``mongozarr`` command line."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.tree import Tree as RichTree

app = typer.Typer(
    help="MongoDB as a home for zarr data: inspect, query and demo a hierarchy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()


@app.callback()
def _root() -> None:
    """MongoDB as a home for zarr data: inspect, query and demo a hierarchy."""

#: The in-process embedded default: nothing to install or start.
DEFAULT_URI = "mongomock://mongozarr"
UriOption = Annotated[
    str,
    typer.Option("--uri", envvar="MONGOZARR_URI", help="mongodb://host/db, or mongomock://NAME (in-process)."),
]
PrefixOption = Annotated[str, typer.Option("--prefix", help="Collection prefix of the store.")]


def render_tree(group: Any, label: str = "/") -> RichTree:
    """A rich tree of a zarr group's members with shapes and attributes."""
    root = RichTree(f"[bold]{label}[/] {dict(group.attrs) or ''}")
    branches = {"": root}
    for path, node in sorted(group.members(max_depth=None)):
        parent = branches[path.rpartition("/")[0]]
        name = path.rpartition("/")[2]
        if hasattr(node, "shape"):
            text = f"{name} [cyan]{node.shape} {node.dtype}[/] {dict(node.attrs) or ''}"
        else:
            text = f"[bold]{name}/[/] {dict(node.attrs) or ''}"
        branches[path] = parent.add(text)
    return root


@app.command()
def demo(uri: UriOption = DEFAULT_URI, prefix: PrefixOption = "demo") -> None:
    """Write a small imaging hierarchy, print its tree and one attribute query."""
    from mongozarr._demo import run_demo

    run_demo(uri, prefix, console)


def main() -> None:
    """Entry point of the ``mongozarr`` script."""
    app()


if __name__ == "__main__":
    main()
