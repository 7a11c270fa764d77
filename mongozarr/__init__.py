"""mongozarr: MongoDB as a first-class home for zarr data.

Each zarr group and array is one MongoDB document whose attributes can be
updated atomically and queried across a whole hierarchy; chunks live inline,
in GridFS, or in another zarr store.
"""

from mongozarr.coordination.append import (
    AppendRegion,
    append,
    append_async,
    forget_append,
    forget_append_async,
    incomplete_appends,
    incomplete_appends_async,
)
from mongozarr.coordination.delete import delete_node, delete_node_async
from mongozarr.coordination.lease import Lease, lease, lease_async, lease_status, lease_status_async
from mongozarr.coordination.links import (
    Link,
    backlinks,
    backlinks_async,
    dangling_links,
    dangling_links_async,
    link,
    link_async,
    links,
    links_async,
    resolve,
    resolve_async,
    unlink,
    unlink_async,
    unlink_dangling,
    unlink_dangling_async,
)
from mongozarr.storage.store import DEFAULT_INLINE_THRESHOLD, MongoStore
from mongozarr.coordination.watch import AsyncWatch, ChangeEvent, Watch, watch, watch_async
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
    "AsyncWatch",
    "ChangeEvent",
    "Lease",
    "Link",
    "Watch",
    "append",
    "append_async",
    "backlinks",
    "backlinks_async",
    "dangling_links",
    "dangling_links_async",
    "delete_node",
    "delete_node_async",
    "forget_append",
    "forget_append_async",
    "incomplete_appends",
    "incomplete_appends_async",
    "lease",
    "lease_async",
    "lease_status",
    "lease_status_async",
    "link",
    "link_async",
    "links",
    "links_async",
    "resolve",
    "resolve_async",
    "unlink",
    "unlink_async",
    "unlink_dangling",
    "unlink_dangling_async",
    "watch",
    "watch_async",
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
