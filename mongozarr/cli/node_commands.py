"""The node commands: ``rm``, ``count``, ``distinct``, ``du`` and ``index``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from mongozarr.cli.options import JsonOption, NodePathArgument, PrefixOption, UriOption
from mongozarr.cli.rendering import cli_errors, console, megabytes, parse_json, print_json, short
from mongozarr.cli.target import open_store, open_tree
from mongozarr.coordination.delete import delete_node
from mongozarr.errors import InvalidInputError
from mongozarr.maintenance.usage import disk_usage
from mongozarr.tree.indexes import drop_index, list_indexes
from mongozarr.zpath import format_node_path, parse_node_path

__all__ = ["count_command", "distinct_command", "du_command", "index_app", "rm_command"]

QueryArgument = Annotated[str, typer.Argument(help='A query as for find: \'{"subject": "mouse-7"}\'.')]
UnderOption = Annotated[str | None, typer.Option("--under", help="Only nodes below this path.")]
TypeOption = Annotated[str | None, typer.Option("--type", help="group or array.")]


def rm_command(
    path: NodePathArgument,
    recursive: Annotated[bool, typer.Option("-r", "--recursive", help="Also delete what is below.")] = False,
    keep_links: Annotated[
        bool, typer.Option("--keep-links", help="Leave links into it dangling (default: remove them).")
    ] = False,
    uri: UriOption = None,
    prefix: PrefixOption = None,
) -> None:
    """Delete a node (with -r, its subtree): chunks, documents and links into it."""
    with cli_errors():
        node = parse_node_path(path)
        tree = open_tree(uri, prefix)
        tree[format_node_path(node)]  # a missing node is exit code 3
        below = tree.count(under=format_node_path(node))
        if below and not recursive:
            raise InvalidInputError(f"{format_node_path(node)} has {below} node(s) below it; use -r")
        if not node:
            raise InvalidInputError("refusing to delete the root; delete its children, or the prefix")
        removed = delete_node(tree.store, node, links="keep" if keep_links else "remove")
    console.print(f"deleted {escape(format_node_path(node))} and {below} node(s) below"
                  + (f"; removed {len(removed)} link(s) into it" if removed else ""))


def count_command(
    query: QueryArgument = "{}",
    under: UnderOption = None,
    node_type: TypeOption = None,
    uri: UriOption = None,
    prefix: PrefixOption = None,
) -> None:
    """Count the nodes matching a query (one count command)."""
    with cli_errors():
        typer.echo(open_tree(uri, prefix).count(parse_json(query, "QUERY"), under=under, node_type=node_type))


def distinct_command(
    key: Annotated[str, typer.Argument(help="An attribute path (or a structural field).")],
    query: QueryArgument = "{}",
    under: UnderOption = None,
    node_type: TypeOption = None,
    uri: UriOption = None,
    prefix: PrefixOption = None,
    as_json: JsonOption = False,
) -> None:
    """The distinct values of an attribute across the matching nodes."""
    with cli_errors():
        values = open_tree(uri, prefix).distinct(key, parse_json(query, "QUERY"), under=under, node_type=node_type)
    if as_json:
        print_json(values)
    else:
        for value in values:
            typer.echo(short(value))


def du_command(
    path: NodePathArgument = "/",
    uri: UriOption = None,
    prefix: PrefixOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stored bytes per array (from the chunk index, reading no chunk)."""
    with cli_errors():
        rows = disk_usage(open_store(uri, prefix, read_only=True), format_node_path(parse_node_path(path)))
    if as_json:
        print_json([{"path": format_node_path(r.path), "chunks": r.chunks, "stored_bytes": r.stored_bytes}
                    for r in rows])
        return
    table = Table("node", "chunks", "stored", title=f"{megabytes(sum(r.stored_bytes for r in rows))} in all")
    for row in rows:
        table.add_row(escape(format_node_path(row.path)), str(row.chunks), megabytes(row.stored_bytes))
    console.print(table)


index_app = typer.Typer(help="Create, list and drop indexes on node documents.", no_args_is_help=True)


@index_app.command("create")
def index_create(
    keys: Annotated[list[str], typer.Argument(help="Attribute paths (several: one compound index).")],
    name: Annotated[str | None, typer.Option("--name", help="The index name.")] = None,
    uri: UriOption = None,
    prefix: PrefixOption = None,
) -> None:
    """Index attribute paths that queries filter on."""
    with cli_errors():
        typer.echo(open_tree(uri, prefix).create_index(*keys, name=name))


@index_app.command("list")
def index_list(uri: UriOption = None, prefix: PrefixOption = None, as_json: JsonOption = False) -> None:
    """The indexes on the node documents."""
    with cli_errors():
        indexes = list_indexes(open_store(uri, prefix, read_only=True))
    if as_json:
        print_json(indexes)
        return
    for index in indexes:
        typer.echo(f"{index['name']}  {short(index['keys'])}")


@index_app.command("drop")
def index_drop(
    name: Annotated[str, typer.Argument(help="The index name (see index list).")],
    uri: UriOption = None,
    prefix: PrefixOption = None,
) -> None:
    """Drop an index on the node documents."""
    with cli_errors():
        drop_index(open_store(uri, prefix), name)
    typer.echo(f"dropped {name}")
