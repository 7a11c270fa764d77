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
    from mongozarr.cli.demo import run_demo

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
    from mongozarr.transfer import copy, print_report

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
    from mongozarr.transfer import export, print_report

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
    from mongozarr.storage.store import MongoStore
    from mongozarr.transfer import import_, print_report

    store = MongoStore(uri, prefix=prefix)
    report = import_(src, store, concurrency=concurrency, progress=progress, verify=verify)
    print_report(console, report)


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts) instead of a table.")]
NodePathArgument = Annotated[str, typer.Argument(help="Node path, like /raw/img1 ('/' is the root).")]
ZPathArgument = Annotated[str, typer.Argument(help="zpath: /node/path or /node/path@attr/path.")]


def _tree_commands(uri: str, prefix: str, as_json: bool) -> Any:
    from mongozarr.cli.tree_commands import TreeCommands

    return TreeCommands(console, uri, prefix, as_json)


@app.command("ls")
def ls_command(
    path: NodePathArgument = "/", uri: UriOption = DEFAULT_URI, prefix: PrefixOption = "zarr",
    as_json: JsonOption = False,
) -> None:
    """List the children of a group: type, shape, data type, attributes."""
    _tree_commands(uri, prefix, as_json).ls(path)


@app.command("tree")
def tree_command(
    path: NodePathArgument = "/", uri: UriOption = DEFAULT_URI, prefix: PrefixOption = "zarr",
    as_json: JsonOption = False,
) -> None:
    """Show a node and everything below it (one query)."""
    _tree_commands(uri, prefix, as_json).tree(path)


@app.command("info")
def info_command(
    path: NodePathArgument, uri: UriOption = DEFAULT_URI, prefix: PrefixOption = "zarr",
    as_json: JsonOption = False,
) -> None:
    """Show a node's document: type, format, shape, chunks, attributes, version."""
    _tree_commands(uri, prefix, as_json).info(path)


@app.command("get")
def get_command(
    zpath: ZPathArgument, uri: UriOption = DEFAULT_URI, prefix: PrefixOption = "zarr",
    as_json: JsonOption = False,
) -> None:
    """Print a node, or an attribute's value as JSON (/raw/img1@spam/eggs)."""
    _tree_commands(uri, prefix, as_json).get(zpath)


@app.command("set")
def set_command(
    zpath: ZPathArgument,
    value: Annotated[str, typer.Argument(help="The new value, as JSON (quote strings: '\"x\"').")],
    uri: UriOption = DEFAULT_URI, prefix: PrefixOption = "zarr", as_json: JsonOption = False,
) -> None:
    """Set one attribute atomically: mongozarr set /raw/img1@spam/eggs 5."""
    _tree_commands(uri, prefix, as_json).set(zpath, value)


@app.command("update")
def update_command(
    path: NodePathArgument,
    ops: Annotated[str, typer.Argument(help='Update operators as JSON: \'{"$inc": {"count": 1}}\'.')],
    expected_version: Annotated[
        int | None, typer.Option("--expected-version", help="Apply only at this node version.")
    ] = None,
    uri: UriOption = DEFAULT_URI, prefix: PrefixOption = "zarr", as_json: JsonOption = False,
) -> None:
    """Apply MongoDB update operators to a node's attributes in one atomic write."""
    _tree_commands(uri, prefix, as_json).update(path, ops, expected_version)


@app.command("find")
def find_command(
    query: Annotated[str, typer.Argument(help='A query as JSON: \'{"subject": "mouse-7"}\'.')] = "{}",
    under: Annotated[str | None, typer.Option("--under", help="Only nodes below this path.")] = None,
    node_type: Annotated[str | None, typer.Option("--type", help="group or array.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many nodes.")] = None,
    uri: UriOption = DEFAULT_URI, prefix: PrefixOption = "zarr", as_json: JsonOption = False,
) -> None:
    """Find nodes by attributes (paths as in zpaths) and structure (path, name, depth, shape, ...)."""
    _tree_commands(uri, prefix, as_json).find(query, under, node_type, limit)


@app.command("watch")
def watch_command(
    under: Annotated[str | None, typer.Argument(help="Only this node and its subtree.")] = None,
    query: Annotated[str | None, typer.Option("--query", help='A MongoDB query on node documents, as JSON.')] = None,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between polls (without change streams).")] = 1.0,
    duration: Annotated[float | None, typer.Option("--duration", help="Stop after this many seconds.")] = None,
    count: Annotated[int | None, typer.Option("--count", help="Stop after this many events.")] = None,
    uri: UriOption = DEFAULT_URI, prefix: PrefixOption = "zarr",
) -> None:
    """Print node changes (created / changed with the changed keys / deleted) as they happen."""
    from mongozarr.coordination.watch import run_watch

    run_watch(uri, prefix, under, query, interval, duration, count,
              lambda line: console.print(line, markup=False, highlight=False))


def main() -> None:
    """Entry point of the ``mongozarr`` script."""
    app()


if __name__ == "__main__":
    main()
