"""mongozarr: MongoDB as a first-class home for zarr data.

Each zarr group and array is one MongoDB document whose attributes can be
updated atomically and queried across a whole hierarchy; chunks live inline,
in GridFS, or in another zarr store.
"""

from mongozarr._store import DEFAULT_INLINE_THRESHOLD, MongoStore
from mongozarr._stores import open_store
from mongozarr._transfer import CopyError, CopyEvent, CopyReport, copy, export, import_
from mongozarr.errors import (
    ConflictError,
    DocumentTooLargeError,
    InvalidMetadataError,
    LockTimeout,
    MongoZarrError,
    NodeNotFoundError,
    QueryError,
    ZPathError,
)
from mongozarr.tree import Tree, open_tree

__all__ = [
    "DEFAULT_INLINE_THRESHOLD",
    "ConflictError",
    "CopyError",
    "CopyEvent",
    "CopyReport",
    "DocumentTooLargeError",
    "InvalidMetadataError",
    "LockTimeout",
    "MongoStore",
    "MongoZarrError",
    "NodeNotFoundError",
    "QueryError",
    "Tree",
    "ZPathError",
    "copy",
    "export",
    "import_",
    "open_store",
    "open_tree",
]

__version__ = "0.1.0"
