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


ConcurrencyOption = Annotated[
    int, typer.Option("--concurrency", "-j", help="Keys in flight at once.")
]
ProgressOption = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
]
VerifyOption = Annotated[
    bool, typer.Option("--verify/--no-verify", help="Check the copy afterwards.")
]
StoreArgument = Annotated[
    str,
    typer.Argument(help="mongodb://…[#prefix], mongomock://…, s3://…, a .zip file or a directory."),
]


@app.command("copy")
def copy_command(
    src: StoreArgument,
    dst: StoreArgument,
    concurrency: ConcurrencyOption = 16,
    progress: ProgressOption = True,
    verify: VerifyOption = True,
    resume: Annotated[
        bool, typer.Option("--resume/--no-resume", help="Skip keys already copied.")
    ] = True,
) -> None:
    """Copy a zarr hierarchy between stores, resuming an interrupted copy."""
    from mongozarr._transfer import copy, print_report

    report = copy(src, dst, concurrency=concurrency, progress=progress, verify=verify, resume=resume)
    print_report(console, report)


@app.command("export")
def export_command(
    src: StoreArgument,
    archive: Annotated[
        str, typer.Option("--archive", help="The .zip archive (or directory) to write afresh.")
    ],
    concurrency: ConcurrencyOption = 16,
    progress: ProgressOption = True,
    verify: VerifyOption = True,
) -> None:
    """Write a static archive with consolidated metadata (zarr at rest)."""
    from mongozarr._transfer import export, print_report

    report = export(src, archive, concurrency=concurrency, progress=progress, verify=verify)
    print_report(console, report)


@app.command("import")
def import_command(
    src: StoreArgument,
    uri: UriOption = DEFAULT_URI,
    prefix: PrefixOption = "zarr",
    concurrency: ConcurrencyOption = 16,
    progress: ProgressOption = True,
    verify: VerifyOption = True,
) -> None:
    """Bring a hierarchy into MongoDB, where its metadata becomes queryable."""
    from mongozarr._store import MongoStore
    from mongozarr._transfer import import_, print_report

    store = MongoStore(uri, prefix=prefix)
    report = import_(src, store, concurrency=concurrency, progress=progress, verify=verify)
    print_report(console, report)


def main() -> None:
    """Entry point of the ``mongozarr`` script."""
    app()


if __name__ == "__main__":
    main()
