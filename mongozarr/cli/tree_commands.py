"""What the Tree commands of the ``mongozarr`` CLI do and print.

``cli.py`` declares the commands and their options; this module runs them
against a :class:`~mongozarr.Tree` and renders the answer as a rich table (for
people) or JSON (``--json``, for scripts). Input mistakes (a malformed zpath,
JSON or operator, a missing node) end with a one-line message and exit code 2,
never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
import zarr
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree as RichTree

from mongozarr.errors import InvalidInputError, MongoZarrError
from mongozarr.tree import Tree, open_tree
from mongozarr.tree.zpath import format_node_path, parse_node_path, parse_zpath

__all__ = ["TreeCommands", "node_summary"]

_USAGE_ERROR = 2
_CELL = 60


def _dumps(value: Any) -> str:
    # NaN and the infinities as JSON's NaN/Infinity tokens, as zarr writes them.
    return json.dumps(value, allow_nan=True, ensure_ascii=False, default=str)


def _short(value: Any) -> str:
    text = _dumps(value)
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def _parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{what} is not valid JSON ({exc.msg} at character {exc.pos}): {text!r}") from None


def node_summary(node: zarr.Array | zarr.Group) -> dict[str, Any]:
    """Path, kind, shape, data type, chunks and attributes of a zarr node."""
    out: dict[str, Any] = {"path": format_node_path(node.path)}
    if isinstance(node, zarr.Array):
        out.update(node_type="array", shape=list(node.shape), data_type=str(node.dtype), chunks=list(node.chunks))
    else:
        out["node_type"] = "group"
    out["attributes"] = node.attrs.asdict()
    return out


class TreeCommands:
    """The Tree commands of the CLI, printing to ``console``.

    Parameters
    ----------
    console
        Where tables and messages go.
    uri, prefix
        The store to open.
    as_json
        Print JSON instead of tables.
    """

    def __init__(self, console: Console, uri: str, prefix: str, as_json: bool) -> None:
        self.console = console
        self.uri = uri
        self.prefix = prefix
        self.as_json = as_json

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (MongoZarrError, KeyError, ValueError) as exc:
            # Expected input and data errors: one line, exit 2, no traceback.
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(_USAGE_ERROR) from None

    def _tree(self) -> Tree:
        return open_tree(self.uri, prefix=self.prefix)

    def _print_json(self, value: Any) -> None:
        typer.echo(_dumps(value))

    def _table(self, rows: Iterable[dict[str, Any]], title: str | None = None) -> None:
        table = Table("path", "type", "shape", "data type", "attributes", title=title)
        count = 0
        for row in rows:
            count += 1
            table.add_row(
                escape(row["path"]),
                row["node_type"],
                "" if "shape" not in row else escape(str(tuple(row["shape"]))),
                escape(row.get("data_type", "")),
                escape(_short(row["attributes"])) if row["attributes"] else "",
            )
        self.console.print(table if count else "[dim](no nodes)[/]")

    def _run(self, action: Callable[[], None]) -> None:
        with self._errors():
            action()

    # ------------------------------------------------------------ commands

    def ls(self, path: str) -> None:
        """The children of the node at ``path``."""

        def action() -> None:
            tree = self._tree()
            node = parse_node_path(path)
            rows = [node_summary(n) for n in tree.find({"parent": format_node_path(node)})]
            if not rows:
                tree[format_node_path(node)]  # a missing node is an error, an empty group is not
            if self.as_json:
                self._print_json(rows)
            else:
                self._table(rows)

        self._run(action)

    def tree(self, path: str) -> None:
        """The node at ``path`` and everything below it, from one query."""

        def action() -> None:
            tree = self._tree()
            top = node_summary(tree[path])
            rows = [top, *(node_summary(n) for n in tree.find(under=top["path"]))]
            if self.as_json:
                self._print_json(rows)
                return
            self.console.print(_rich_tree(rows, str(tree.store)))

        self._run(action)

    def info(self, path: str) -> None:
        """Everything the node document says about ``path``."""

        def action() -> None:
            info = self._tree().info(path)
            if self.as_json:
                self._print_json(info)
                return
            table = Table("field", "value", show_header=False)
            for key, value in info.items():
                table.add_row(key, escape(_dumps(value) if key == "attributes" else str(value)))
            self.console.print(table)

        self._run(action)

    def get(self, zpath: str) -> None:
        """A node's summary, or an attribute's value (always JSON)."""

        def action() -> None:
            tree = self._tree()
            parsed = parse_zpath(zpath)
            if parsed.attribute is not None:
                self._print_json(tree[zpath])
            elif self.as_json:
                self._print_json(node_summary(tree[zpath]))
            else:
                self._table([node_summary(tree[zpath])])

        self._run(action)

    def set(self, zpath: str, value_json: str) -> None:
        """Set one attribute (one atomic ``$set``)."""

        def action() -> None:
            value = _parse_json(value_json, "VALUE")
            if parse_zpath(zpath).attribute is None:
                raise InvalidInputError(f"{zpath!r} names a node; set an attribute with 'PATH@KEY'")
            self._tree()[zpath] = value
            if self.as_json:
                self._print_json({"zpath": zpath, "value": value})
            else:
                self.console.print(f"set [bold]{escape(zpath)}[/] = {escape(_short(value))}")

        self._run(action)

    def update(self, path: str, ops_json: str, expected_version: int | None) -> None:
        """Apply update operators to a node's attributes and print the result."""

        def action() -> None:
            ops = _parse_json(ops_json, "OPS")
            attributes = self._tree().update(
                path, ops, return_attributes=True, expected_version=expected_version
            )
            if self.as_json:
                self._print_json(attributes)
                return
            table = Table("attribute", "value", title=f"{path} after the update")
            for key, value in (attributes or {}).items():
                table.add_row(escape(key), escape(_short(value)))
            self.console.print(table)

        self._run(action)

    def find(self, query_json: str, under: str | None, node_type: str | None, limit: int | None) -> None:
        """The nodes matching a query."""

        def action() -> None:
            query = _parse_json(query_json, "QUERY")
            rows = [node_summary(n) for n in self._tree().find(
                query, under=under, node_type=node_type, limit=limit)]
            if self.as_json:
                self._print_json(rows)
            else:
                self._table(rows, title=f"{len(rows)} node(s)")

        self._run(action)


def _rich_tree(rows: list[dict[str, Any]], label: str) -> RichTree:
    top = rows[0]
    root = RichTree(f"[bold]{escape(top['path'])}[/] [dim]{escape(label)}[/] {escape(_short(top['attributes']))}")
    branches = {top["path"]: root}
    for row in rows[1:]:
        parent_path = row["path"].rpartition("/")[0] or "/"
        parent = branches.get(parent_path, root)
        name = row["path"].rpartition("/")[2]
        attributes = escape(_short(row["attributes"])) if row["attributes"] else ""
        if row["node_type"] == "array":
            text = f"{escape(name)} [cyan]{tuple(row['shape'])} {escape(row['data_type'])}[/] {attributes}"
        else:
            text = f"[bold]{escape(name)}/[/] {attributes}"
        branches[row["path"]] = parent.add(text)
    return root

