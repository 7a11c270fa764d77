"""mongozarr: MongoDB as a first-class home for zarr data.

Each zarr group and array is one MongoDB document whose attributes can be
updated atomically and queried across a whole hierarchy; chunks live inline,
in GridFS, or in another zarr store.
"""

from mongozarr.coordination.append import AppendRegion, append, append_async, forget_append, incomplete_appends
from mongozarr.coordination.lease import Lease, alease, lease, lease_status
from mongozarr.coordination.links import (
    Link,
    backlinks,
    dangling_links,
    delete_node,
    link,
    links,
    resolve,
    unlink,
    unlink_dangling,
)
from mongozarr.storage.store import DEFAULT_INLINE_THRESHOLD, MongoStore
from mongozarr.coordination.watch import ChangeEvent, Watch, watch
from mongozarr.storage.urls import open_store
from mongozarr.transfer import (
    CopyEvent,
    CopyReport,
    copy,
    copy_async,
    export_archive,
    export_archive_async,
    import_archive,
    import_archive_async,
)
from mongozarr import errors
from mongozarr.errors import *  # noqa: F403  (the whole error tree)
from mongozarr.tree import AsyncTree, Tree, open_tree, open_tree_async

__all__ = [
    *errors.__all__,
    "AppendRegion",
    "ChangeEvent",
    "Lease",
    "Link",
    "Watch",
    "alease",
    "append",
    "append_async",
    "backlinks",
    "dangling_links",
    "delete_node",
    "forget_append",
    "incomplete_appends",
    "lease",
    "lease_status",
    "link",
    "links",
    "resolve",
    "unlink",
    "unlink_dangling",
    "watch",
    "DEFAULT_INLINE_THRESHOLD",
    "CopyEvent",
    "CopyReport",
    "AsyncTree",
    "MongoStore",
    "Tree",
    "copy",
    "copy_async",
    "export_archive",
    "export_archive_async",
    "import_archive",
    "import_archive_async",
    "open_store",
    "open_tree",
    "open_tree_async",
]

__version__ = "0.1.0"
