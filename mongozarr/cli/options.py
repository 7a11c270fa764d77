"""The options and arguments the ``mongozarr`` commands share."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = [
    "AllowEmptyOption",
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

UriOption = Annotated[
    str | None,
    typer.Option(
        "--uri",
        envvar="MONGOZARR_URI",
        help="mongodb://host/db[#prefix] (or mongomock://NAME, in-process and gone at exit); "
        "default: MONGOZARR_URI, then uri in ./mongozarr.toml or ~/.config/mongozarr/config.toml.",
        show_default=False,
    ),
]
PrefixOption = Annotated[
    str | None,
    typer.Option("--prefix", help="Collection prefix of the store [default: the URI's #prefix, else zarr]."),
]
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
AllowEmptyOption = Annotated[
    bool, typer.Option("--allow-empty", help="Copy an empty source too (by default an error: a typo?).")
]
