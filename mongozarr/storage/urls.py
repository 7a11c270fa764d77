"""Open any zarr store from a URL: MongoDB, mongomock, S3, a ``.zip`` file or a directory.

Non-MongoDB URLs are opened by :mod:`mongozarr.storage.object_stores`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mongozarr.storage.object_stores import OpenMode, open_object_store

if TYPE_CHECKING:
    from zarr.abc.store import Store

__all__ = ["OpenMode", "open_store"]

_MONGO_SCHEMES = ("mongodb", "mongodb+srv", "mongomock")


def open_store(url: str | Path, mode: OpenMode = "r") -> Store:
    """Open the zarr store a URL names.

    Parameters
    ----------
    url
        ``mongodb://host/db``, ``mongodb+srv://...`` or ``mongomock://NAME``,
        each optionally ending in ``#PREFIX`` (the collection prefix, default
        ``zarr``); ``s3://BUCKET/PATH`` (credentials, region and endpoint from
        the usual ``AWS_*`` environment variables, e.g. ``AWS_ENDPOINT_URL``
        and ``AWS_ALLOW_HTTP=true`` for a local S3 server); ``zip://PATH`` or a
        path ending in ``.zip``; ``file://PATH`` or any other path (a directory).
    mode
        ``"r"`` opens read only; ``"a"`` for reading and writing, keeping what
        is there; ``"w"`` empties the store first.

    Returns
    -------
    Store
        A :class:`~mongozarr.MongoStore`, :class:`~zarr.storage.ObjectStore`,
        :class:`~zarr.storage.ZipStore` or :class:`~zarr.storage.LocalStore`.
        The caller closes it (a zip archive is complete only once closed).
    """
    if mode not in ("r", "a", "w"):
        raise ValueError(f"mode must be 'r', 'a' or 'w', got {mode!r}")
    text = str(url)
    scheme = urlsplit(text).scheme if "://" in text else ""
    if scheme not in _MONGO_SCHEMES:
        return open_object_store(text, mode)
    from mongozarr.storage.store import MongoStore

    # MongoStore reads the #prefix itself; a bare "#" means the default prefix.
    store = MongoStore(text.removesuffix("#"), read_only=mode == "r")
    if mode == "w":
        from zarr.core.sync import sync

        sync(store.clear())
    return store
