"""mongozarr: MongoDB as a first-class home for zarr data.

Each zarr group and array is one MongoDB document whose attributes can be
updated atomically and queried across a whole hierarchy; chunks live inline,
in GridFS, or in another zarr store.

Every function that does I/O has a sync form ``name`` and an async form
``name_async`` for code inside a running event loop; the sync form wraps it.
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
from mongozarr.coordination.delete import (
    delete_node,
    delete_node_async,
)
from mongozarr.coordination.lease import (
    Lease,
    lease,
    lease_async,
    lease_status,
    lease_status_async,
)
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
from mongozarr.coordination.watch import (
    AsyncWatch,
    ChangeEvent,
    Watch,
    watch,
    watch_async,
)
from mongozarr.errors import (
    AmbiguousWriteWarning,
    AttributeNotFoundError,
    ChunkDataError,
    ConflictError,
    CopyError,
    DocumentTooLargeError,
    InvalidInputError,
    InvalidMetadataError,
    LeaseLost,
    LeaseTimeout,
    MalformedNodeWarning,
    MongoZarrError,
    MongoZarrWarning,
    NodeNotFoundError,
    NotAnArrayError,
    QueryError,
    ZPathError,
)
from mongozarr.maintenance.fsck import (
    FsckReport,
    fsck,
    fsck_async,
)
from mongozarr.storage import (
    DEFAULT_INLINE_THRESHOLD,
    MongoStore,
)
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
from mongozarr.tree import (
    AsyncTree,
    Tree,
    open_tree,
    open_tree_async,
)

__all__ = [
    "DEFAULT_INLINE_THRESHOLD",
    "AmbiguousWriteWarning",
    "AppendRegion",
    "AsyncTree",
    "AsyncWatch",
    "AttributeNotFoundError",
    "ChangeEvent",
    "ChunkDataError",
    "ConflictError",
    "CopyError",
    "CopyEvent",
    "CopyReport",
    "DocumentTooLargeError",
    "FsckReport",
    "InvalidInputError",
    "InvalidMetadataError",
    "Lease",
    "LeaseLost",
    "LeaseTimeout",
    "Link",
    "MalformedNodeWarning",
    "MongoStore",
    "MongoZarrError",
    "MongoZarrWarning",
    "NodeNotFoundError",
    "NotAnArrayError",
    "QueryError",
    "Tree",
    "Watch",
    "ZPathError",
    "append",
    "append_async",
    "backlinks",
    "backlinks_async",
    "copy",
    "copy_async",
    "dangling_links",
    "dangling_links_async",
    "delete_node",
    "delete_node_async",
    "export_archive",
    "export_archive_async",
    "forget_append",
    "forget_append_async",
    "fsck",
    "fsck_async",
    "import_archive",
    "import_archive_async",
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
    "open_tree",
    "open_tree_async",
    "resolve",
    "resolve_async",
    "unlink",
    "unlink_async",
    "unlink_dangling",
    "unlink_dangling_async",
    "watch",
    "watch_async",
]

__version__ = "0.1.0"
