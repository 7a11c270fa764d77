"""Open a zarr store that is not MongoDB from a URL: S3, a ``.zip`` file or a directory.

S3 goes through zarr's :class:`~zarr.storage.ObjectStore` over obstore rather
than :class:`~zarr.storage.FsspecStore` over s3fs: obstore's async calls run
on its own Rust runtime and can be awaited from any asyncio loop, whereas an
s3fs (aiobotocore) session binds to the loop that created it, the very
problem :class:`~mongozarr.MongoStore` solves with one client per loop (zarr
runs store coroutines on its own loop thread for the sync API and on the
caller's loop for the async API). obstore is also one wheel without the
botocore version pins, and its listing returns sizes, which copies use.

Kept apart from :mod:`mongozarr.storage.urls` (which also opens MongoDB
URLs) so that a store's external chunk store is opened without importing
the store itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from mongozarr.redaction import redact

if TYPE_CHECKING:
    from zarr.abc.store import Store

__all__ = ["OpenMode", "open_object_store"]

#: ``"r"`` read only; ``"a"`` read and write, keep what is there; ``"w"`` start empty.
OpenMode = Literal["r", "a", "w"]


def open_object_store(url: str | Path, mode: OpenMode = "r") -> Store:
    """Open the S3, zip or directory store a URL names (see :func:`mongozarr.open_store`).

    Parameters
    ----------
    url
        ``s3://BUCKET/PATH``, ``zip://PATH`` or a path ending in ``.zip``,
        ``file://PATH`` or any other path (a directory).
    mode
        ``"r"``, ``"a"`` or ``"w"`` (``"w"`` empties the store first).

    Returns
    -------
    Store
        A :class:`~zarr.storage.ObjectStore`, :class:`~zarr.storage.ZipStore`
        or :class:`~zarr.storage.LocalStore`.
    """
    if mode not in ("r", "a", "w"):
        raise ValueError(f"mode must be 'r', 'a' or 'w', got {mode!r}")
    text = str(url)
    scheme = urlsplit(text).scheme if "://" in text else ""
    if scheme == "s3":
        store = _open_s3(text, mode)
    elif scheme == "zip" or (scheme in ("", "file") and text.endswith(".zip")):
        return _open_zip(_local_path(text), mode)
    elif scheme in ("", "file"):
        store = _open_directory(_local_path(text), mode)
    else:
        raise ValueError(
            f"unsupported store URL {redact(text)!r}: expected mongodb://, mongodb+srv://, mongomock://, "
            "s3://, zip://, file:// or a path"
        )
    if mode == "w":
        from zarr.core.sync import sync

        sync(store.clear())
    return store


def _local_path(text: str) -> Path:
    for scheme in ("zip://", "file://"):
        if text.startswith(scheme):
            return Path(text[len(scheme) :])
    return Path(text)


def _open_s3(text: str, mode: OpenMode) -> Store:
    try:
        from obstore.store import S3Store
    except ImportError as error:
        raise ImportError("s3:// stores need obstore: pip install 'mongozarr[s3]'") from error
    from zarr.storage import ObjectStore

    parts = urlsplit(text)
    if not parts.netloc:
        raise ValueError(f"S3 URL {text!r} needs a bucket: s3://BUCKET/PATH")
    prefix = parts.path.strip("/") or None
    return ObjectStore(S3Store(parts.netloc, prefix=prefix), read_only=mode == "r")


def _open_zip(path: Path, mode: OpenMode) -> Store:
    from zarr.storage import ZipStore

    if mode == "r" and not path.is_file():
        raise FileNotFoundError(f"no zip archive at {path}")
    # "w" truncates; "a" appends to an archive (or creates it).
    return ZipStore(path, mode=mode)


def _open_directory(path: Path, mode: OpenMode) -> Store:
    from zarr.storage import LocalStore

    if mode == "r" and not path.is_dir():
        raise FileNotFoundError(f"no directory at {path}")
    return LocalStore(path, read_only=mode == "r")
