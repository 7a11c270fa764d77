"""Everything the ``mongozarr`` command line prints: tables, the node tree, copy
progress and summaries, watch events, and one-line errors.

The library yields data (node documents, :class:`~mongozarr.CopyEvent`,
:class:`~mongozarr.ChangeEvent`) and prints nothing; this module turns it into
text for people (rich) or JSON for scripts.
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
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.tree import Tree as RichTree

from mongozarr import ChangeEvent, CopyEvent, CopyReport
from mongozarr.cli.target import SESSION
from mongozarr.errors import (
    AttributeNotFoundError,
    ConflictError,
    InvalidInputError,
    LeaseTimeout,
    MongoZarrError,
    NodeNotFoundError,
)
from mongozarr.redaction import redact
from mongozarr.zpath import format_node_path

__all__ = [
    "CONFLICT",
    "CONNECTION_ERROR",
    "EXIT_CODES_HELP",
    "NOT_FOUND",
    "USAGE_ERROR",
    "attribute_lines",
    "cli_errors",
    "console",
    "copy_progress",
    "dumps",
    "format_event",
    "megabytes",
    "node_summary",
    "node_table",
    "parse_json",
    "print_json",
    "print_line",
    "print_report",
    "render_tree",
    "short",
    "show_warning",
]

#: Exit codes (documented in ``mongozarr --help``).
USAGE_ERROR = 2
NOT_FOUND = 3
CONFLICT = 4
CONNECTION_ERROR = 5
EXIT_CODES_HELP = (
    "Exit codes: 0 done, 1 unexpected error, 2 usage or input mistake, "
    "3 node or attribute not found, 4 conflict (version changed, lease held), "
    "5 cannot reach or lost the server, 130 interrupted (Ctrl-C)."
)
_CELL = 60

#: Standard output (rich resolves ``sys.stdout`` at each print, so test runners can capture it).
console = Console()


# ------------------------------------------------------------------ values


def dumps(value: Any) -> str:
    """JSON text of ``value``."""
    # NaN and the infinities as JSON's NaN/Infinity tokens, as zarr writes them.
    return json.dumps(value, allow_nan=True, ensure_ascii=False, default=str)


def short(value: Any) -> str:
    """JSON text of ``value``, cut to fit a table cell."""
    text = dumps(value)
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def parse_json(text: str, what: str) -> Any:
    """``text`` parsed as JSON; :class:`InvalidInputError` naming ``what`` if it is not."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"{what} is not valid JSON ({exc.msg} at character {exc.pos}): {text!r}"
        ) from None


def print_json(value: Any) -> None:
    """Print ``value`` as one line of JSON (for scripts)."""
    typer.echo(dumps(value))


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
    """Print a warning as one line on stderr (a ``warnings.showwarning`` replacement)."""
    typer.echo(f"warning: {redact(str(message))}", err=True)


def _exit_code(exc: BaseException) -> int:
    from pymongo.errors import ConnectionFailure

    if isinstance(exc, (NodeNotFoundError, AttributeNotFoundError, KeyError)):
        return NOT_FOUND
    if isinstance(exc, (ConflictError, LeaseTimeout)):
        return CONFLICT
    if isinstance(exc, (ConnectionFailure, ConnectionError)):
        return CONNECTION_ERROR
    return USAGE_ERROR


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn expected errors into one line on stderr and a distinct exit code (no traceback)."""
    from pymongo.errors import PyMongoError

    try:
        yield
    except (MongoZarrError, KeyError, ValueError, PyMongoError) as exc:
        if SESSION.debug:
            raise  # mongozarr --debug: the whole traceback
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        typer.echo(f"error: {redact(str(message))}", err=True)
        raise typer.Exit(_exit_code(exc)) from None


# ------------------------------------------------------------------ nodes


def node_summary(node: zarr.Array | zarr.Group) -> dict[str, Any]:
    """Path, kind, shape, data type, chunks and attributes of a zarr node."""
    out: dict[str, Any] = {"path": format_node_path(node.path)}
    if isinstance(node, zarr.Array):
        out.update(
            node_type="array",
            shape=list(node.shape),
            data_type=str(node.dtype),
            chunks=list(node.chunks),
        )
    else:
        out["node_type"] = "group"
    out["attributes"] = node.attrs.asdict()
    return out


def attribute_lines(attributes: dict[str, Any]) -> str:
    """One ``@key value`` line per attribute, each value cut to fit: a cell that wraps by attribute."""
    return "\n".join(f"[dim]@{escape(key)}[/] {escape(short(value))}" for key, value in attributes.items())


def node_table(rows: Iterable[dict[str, Any]], title: str | None = None) -> Table | str:
    """A table of node summaries (or a dim note when there are none)."""
    table = Table("path", "type", "shape", "data type", "attributes", title=title)
    count = 0
    for row in rows:
        count += 1
        table.add_row(
            escape(row["path"]),
            row["node_type"],
            "" if "shape" not in row else escape(str(tuple(row["shape"]))),
            escape(row.get("data_type", "")),
            attribute_lines(row["attributes"]),
        )
    return table if count else "[dim](no nodes)[/]"


def render_tree(rows: list[dict[str, Any]], label: str) -> RichTree:
    """A rich tree of node summaries: the first row is the top, parents come before children."""
    top = rows[0]
    root = RichTree(
        f"[bold]{escape(top['path'])}[/] [dim]{escape(label)}[/] {escape(short(top['attributes']))}"
    )
    branches = {top["path"]: root}
    for row in rows[1:]:
        parent_path = row["path"].rpartition("/")[0] or "/"
        parent = branches.get(parent_path, root)
        name = row["path"].rpartition("/")[2]
        attributes = escape(short(row["attributes"])) if row["attributes"] else ""
        if row["node_type"] == "array":
            shape = tuple(row["shape"])
            text = f"{escape(name)} [cyan]{shape} {escape(row['data_type'])}[/] {attributes}"
        else:
            text = f"[bold]{escape(name)}/[/] {attributes}"
        branches[row["path"]] = parent.add(text)
    return root


# ------------------------------------------------------------------ copies


def megabytes(nbytes: int) -> str:
    """``nbytes`` as megabytes, one decimal."""
    return f"{nbytes / 1e6:.1f} MB"


@contextmanager
def copy_progress(show: bool = True) -> Iterator[Callable[[CopyEvent], None] | None]:
    """A progress bar on stderr fed by copy events (None if ``show`` is false)."""
    if not show:
        yield None
        return
    with Progress(
        TextColumn("[bold]copy[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("keys"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("", total=None)
        copied = 0

        def update(event: CopyEvent) -> None:
            nonlocal copied
            copied += event.nbytes if event.kind == "copied" else 0
            bar.update(task, completed=event.done, total=event.total, description=megabytes(copied))

        yield update


def print_report(report: CopyReport) -> None:
    """Print the summary of a copy."""
    check = "verified" if report.verified else "not verified"
    console.print(
        f"{report.source} → {report.destination}: {report.keys} keys, "
        f"{report.copied} copied ({megabytes(report.bytes_copied)}), "
        f"{report.skipped} already there, {check}, {report.seconds:.1f} s"
    )
    if report.stripped or report.dropped:
        console.print(
            f"consolidated metadata left out (it would go stale in MongoDB): "
            f"{', '.join(report.stripped + report.dropped)}"
        )


# ------------------------------------------------------------------ watch


def format_event(event: ChangeEvent) -> str:
    """One line for a node change: kind, path, version, changed attributes and fields."""
    parts = [f"{event.kind:8} /{event.path}"]
    if event.version is not None:
        parts.append(f"v{event.version}")
    if event.attributes:
        parts.append("attributes: " + ", ".join(event.attributes))
    if event.fields:
        parts.append("fields: " + ", ".join(event.fields))
    return "  ".join(parts)


def print_line(text: str) -> None:
    """Print ``text`` as is (no rich markup or highlighting: paths and keys are data)."""
    console.print(text, markup=False, highlight=False)
