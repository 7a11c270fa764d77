"""The Tree commands: ``ls``, ``tree``, ``info``, ``get``, ``set``, ``update``, ``find``.

Each runs against a :class:`~mongozarr.Tree` and prints a rich table (for
people) or JSON (``--json``, for scripts). Input mistakes (a malformed zpath,
JSON or operator, a missing node) end with a one-line message and exit code 2,
never a traceback.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from mongozarr.cli.options import (
    JsonOption,
    NodePathArgument,
    PrefixOption,
    UriOption,
    ZPathArgument,
)
from mongozarr.cli.rendering import (
    cli_errors,
    console,
    megabytes,
    node_summary,
    node_table,
    parse_json,
    print_json,
    render_tree,
    short,
)
from mongozarr.cli.target import open_tree
from mongozarr.errors import InvalidInputError
from mongozarr.maintenance.usage import disk_usage
from mongozarr.tree import Tree
from mongozarr.zpath import format_node_path, parse_node_path, parse_zpath

__all__ = [
    "find_command",
    "get_command",
    "info_command",
    "ls_command",
    "set_command",
    "tree_command",
    "update_command",
]


def _open(uri: str | None, prefix: str | None) -> Tree:
    return open_tree(uri, prefix)


def ls_command(
    path: NodePathArgument = "/",
    uri: UriOption = None,
    prefix: PrefixOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the children of a group: type, shape, data type, attributes."""
    with cli_errors():
        tree = _open(uri, prefix)
        node = format_node_path(parse_node_path(path))
        rows = [node_summary(n) for n in tree.find({"parent": node})]
        if not rows:
            tree[node]  # a missing node is an error, an empty group is not
        if as_json:
            print_json(rows)
        else:
            console.print(node_table(rows))


def tree_command(
    path: NodePathArgument = "/",
    uri: UriOption = None,
    prefix: PrefixOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a node and everything below it (one query)."""
    with cli_errors():
        tree = _open(uri, prefix)
        top = node_summary(tree[path])
        rows = [top, *(node_summary(n) for n in tree.find(under=top["path"]))]
        if as_json:
            print_json(rows)
        else:
            console.print(render_tree(rows, str(tree.store)))


def info_command(
    path: NodePathArgument,
    uri: UriOption = None,
    prefix: PrefixOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a node: type, format, shape, chunks, codecs, fill value, stored bytes, attributes, version."""
    with cli_errors():
        tree = _open(uri, prefix)
        info = tree.info(path)
        if info["node_type"] == "array":
            node = parse_node_path(path)
            stored = sum(u.stored_bytes for u in disk_usage(tree.store, node) if u.path == node)
            info["stored_bytes"] = stored
            info["ratio"] = round(tree[path].nbytes / stored, 2) if stored else None
        if as_json:
            print_json(info)
            return
        table = Table("field", "value", show_header=False)
        for key, value in info.items():
            if key == "attributes":
                continue
            table.add_row(key, escape(megabytes(value) if key == "stored_bytes" else str(value)))
        # One attribute per row: readable at 80 columns.
        for key, value in info["attributes"].items():
            table.add_row(f"@{escape(key)}", escape(short(value)))
        console.print(table)


def get_command(
    zpath: ZPathArgument,
    uri: UriOption = None,
    prefix: PrefixOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a node, or an attribute's value as JSON (/raw/img1@spam/eggs)."""
    with cli_errors():
        tree = _open(uri, prefix)
        if parse_zpath(zpath).attribute is not None:
            print_json(tree[zpath])  # attribute values are always JSON
        elif as_json:
            print_json(node_summary(tree[zpath]))
        else:
            console.print(node_table([node_summary(tree[zpath])]))


def _value(text: str) -> Any:
    """JSON if ``text`` is JSON; a bare string otherwise, unless it looks like JSON gone wrong."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if text.lstrip()[:1] in ("{", "[", '"'):
            return parse_json(text, "VALUE")  # raises, saying where
        return text


def set_command(
    zpath: ZPathArgument,
    value: Annotated[
        str, typer.Argument(help="The new value: JSON (5, true, [1, 2], {...}), else a bare string.")
    ],
    uri: UriOption = None,
    prefix: PrefixOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set one attribute atomically: mongozarr set /raw/img1@spam/eggs 5."""
    with cli_errors():
        parsed = _value(value)
        if parse_zpath(zpath).attribute is None:
            raise InvalidInputError(f"{zpath!r} names a node; set an attribute with 'PATH@KEY'")
        _open(uri, prefix)[zpath] = parsed  # one atomic $set
        if as_json:
            print_json({"zpath": zpath, "value": parsed})
        else:
            console.print(f"set [bold]{escape(zpath)}[/] = {escape(short(parsed))}")


def update_command(
    path: NodePathArgument,
    ops: Annotated[
        str, typer.Argument(help='Update operators as JSON: \'{"$inc": {"count": 1}}\'.')
    ],
    expected_version: Annotated[
        int | None, typer.Option("--expected-version", help="Apply only at this node version.")
    ] = None,
    uri: UriOption = None,
    prefix: PrefixOption = None,
    as_json: JsonOption = False,
) -> None:
    """Apply MongoDB update operators to a node's attributes in one atomic write."""
    with cli_errors():
        parsed = parse_json(ops, "OPS")
        attributes = _open(uri, prefix).update(
            path, parsed, return_attributes=True, expected_version=expected_version
        )
        if as_json:
            print_json(attributes)
            return
        table = Table("attribute", "value", title=f"{path} after the update")
        for key, value in (attributes or {}).items():
            table.add_row(escape(key), escape(short(value)))
        console.print(table)


def find_command(
    query: Annotated[
        str, typer.Argument(help='A query as JSON: \'{"subject": "mouse-7"}\'.')
    ] = "{}",
    under: Annotated[
        str | None, typer.Option("--under", help="Only nodes below this path.")
    ] = None,
    node_type: Annotated[str | None, typer.Option("--type", help="group or array.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many nodes.")] = None,
    uri: UriOption = None,
    prefix: PrefixOption = None,
    as_json: JsonOption = False,
) -> None:
    """Find nodes by attributes (paths as in zpaths) and structure (path, name, depth, shape, ...)."""
    with cli_errors():
        parsed = parse_json(query, "QUERY")
        found = _open(uri, prefix).find(parsed, under=under, node_type=node_type, limit=limit)
        rows = [node_summary(n) for n in found]
        if as_json:
            print_json(rows)
        else:
            console.print(node_table(rows, title=f"{len(rows)} node(s)"))
