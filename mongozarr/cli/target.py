"""Which store a command works on: ``--uri``, ``MONGOZARR_URI``, or a config file; never a guess.

A data command without a store fails with one line that says how to get one,
instead of writing to an in-process store that is gone when the command ends.
``mongomock://NAME`` stays available when named explicitly.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from mongozarr.errors import InvalidInputError
from mongozarr.storage.store import MongoStore
from mongozarr.tree import Tree

__all__ = ["CONFIG_FILES", "SESSION", "Session", "config_files", "open_store", "open_tree", "resolve_uri", "split_prefix"]

#: Looked up in this order: the project's file, then the user's.
CONFIG_FILES = ("mongozarr.toml", "~/.config/mongozarr/config.toml")


def config_files() -> list[Path]:
    """The config files consulted, in order (``$XDG_CONFIG_HOME`` respected)."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    user = Path(xdg, "mongozarr", "config.toml") if xdg else Path(CONFIG_FILES[1]).expanduser()
    return [Path(CONFIG_FILES[0]), user]


def _from_config() -> str | None:
    for path in config_files():
        if not path.is_file():
            continue
        try:
            config = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InvalidInputError(f"cannot read {path}: {exc}") from None
        uri = config.get("uri")
        if uri is not None:
            if not isinstance(uri, str):
                raise InvalidInputError(f"{path}: uri must be a string, got {uri!r}")
            return uri
    return None


def resolve_uri(uri: str | None) -> str:
    """The store URI: ``--uri`` / ``MONGOZARR_URI`` (typer reads both), else a config file.

    Raises
    ------
    InvalidInputError
        When none names a store; the message says how to get one.
    """
    found = uri or _from_config()
    if not found:
        raise InvalidInputError(
            "no store given: pass --uri mongodb://HOST/DB[#PREFIX], set MONGOZARR_URI, or put "
            "uri = \"...\" in ./mongozarr.toml; for a local server run "
            "'mongozarr serve ./lab --detach' and use the URI it prints"
        )
    return found


@dataclass
class Session:
    """Options of the whole command line (``mongozarr --read-only ...``)."""

    read_only: bool = False
    debug: bool = False


#: Set by the app's callback at every invocation.
SESSION = Session()


def split_prefix(uri: str, prefix: str | None) -> tuple[str, str]:
    """``(uri without #fragment, prefix)``: ``--prefix`` wins, then ``#PREFIX``, then ``zarr``."""
    base, _, fragment = uri.partition("#")
    return base, prefix or fragment or "zarr"


def open_store(uri: str | None, prefix: str | None, *, read_only: bool = False) -> MongoStore:
    """The MongoStore a data command works on (read-only when the session or the command says)."""
    base, name = split_prefix(resolve_uri(uri), prefix)
    return MongoStore(base, prefix=name, read_only=read_only or SESSION.read_only)


def open_tree(uri: str | None, prefix: str | None, *, read_only: bool = False) -> Tree:
    """The Tree over :func:`open_store`."""
    return Tree(open_store(uri, prefix, read_only=read_only))
