"""The ``watch`` command: print node changes as they happen."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer

from mongozarr import watch
from mongozarr.cli.options import JsonOption, PrefixOption, UriOption
from mongozarr.cli.rendering import cli_errors, format_event, parse_json, print_json, print_line
from mongozarr.cli.target import open_store
from mongozarr.errors import InvalidInputError

__all__ = ["watch_command"]


def _query(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    query = parse_json(text, "--query")
    if not isinstance(query, dict):
        raise InvalidInputError(
            "--query must be a JSON object (a query as for find), "
            f"got {text!r}"
        )
    return query


def watch_command(
    under: Annotated[
        str | None, typer.Argument(help="Only this node and its subtree.")
    ] = None,
    query: Annotated[
        str | None, typer.Option("--query", help='Only nodes matching this query, as for find: \'{"subject": "mouse-7"}\'.')
    ] = None,
    interval: Annotated[
        float, typer.Option("--interval", help="Seconds between polls (without change streams).")
    ] = 1.0,
    duration: Annotated[
        float | None, typer.Option("--duration", help="Stop after this many seconds.")
    ] = None,
    count: Annotated[
        int | None, typer.Option("--count", help="Stop after this many events.")
    ] = None,
    uri: UriOption = None,
    prefix: PrefixOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print node changes (created / changed with the changed keys / deleted) as they happen."""
    with cli_errors():
        parsed = _query(query)
        store = open_store(uri, prefix, read_only=True)
        events = watch(store, under, parsed, poll_interval=interval, duration=duration)
    printed = 0
    with events:
        # Printed once the baseline is taken (to stderr with --json, so stdout stays NDJSON).
        typer.echo(f"watching {store} ({events.mode})", err=as_json)
        for event in events:
            if as_json:
                print_json(dataclasses.asdict(event))
            else:
                print_line(format_event(event))
            printed += 1
            if count is not None and printed >= count:
                break
