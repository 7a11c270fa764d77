"""The options and arguments the ``mongozarr`` commands share."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = [
    "DEFAULT_URI",
    "ConcurrencyOption",
    "JsonOption",
    "NodePathArgument",
    "PrefixOption",
    "ProgressOption",
    "StoreArgument",
    "UriOption",
    "VerifyOption",
    "ZPathArgument",
]

#: The in-process embedded default: nothing to install or start.
DEFAULT_URI = "mongomock://mongozarr"

UriOption = Annotated[
    str,
    typer.Option(
        "--uri", envvar="MONGOZARR_URI", help="mongodb://host/db, or mongomock://NAME (in-process)."
    ),
]
PrefixOption = Annotated[str, typer.Option("--prefix", help="Collection prefix of the store.")]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON (for scripts) instead of a table.")
]
NodePathArgument = Annotated[
    str, typer.Argument(help="Node path, like /raw/img1 ('/' is the root).")
]
ZPathArgument = Annotated[str, typer.Argument(help="zpath: /node/path or /node/path@attr/path.")]

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
