"""Every exception and warning mongozarr raises on purpose, as one tree.

::

    MongoZarrError
    ├── InvalidMetadataError (ValueError)   metadata MongoDB cannot hold as given
    │   └── DocumentTooLargeError           a node document over 16 MiB
    ├── ZPathError (ValueError)             a malformed zpath or attribute path
    ├── QueryError (ValueError)             a query or update that cannot be run
    ├── InvalidInputError (ValueError)      other malformed input (JSON text, a value)
    ├── NodeNotFoundError (KeyError)        no group or array at a path
    ├── AttributeNotFoundError (KeyError)   no attribute at a zpath
    ├── NotAnArrayError (TypeError)         an array operation on a group
    ├── ConflictError                       another version than the one expected
    │   └── LeaseLost                       a lease expired and went to someone else
    ├── LeaseTimeout (TimeoutError)         a lease not granted in the time allowed
    ├── ServerUnavailableError (ConnectionError)   cannot reach the server; nothing done
    ├── WriteOutcomeUnknownError (ConnectionError) a write cut off: applied or not
    ├── ChunkDataError                      a chunk's stored bytes are missing
    └── CopyError                           a copy's destination differs from its source

    MongoZarrWarning (UserWarning)
    ├── AmbiguousWriteWarning               part of a plain zarr write withheld
    └── MalformedNodeWarning                a node document zarr cannot read, skipped

The builtin mixins keep Python idioms working: ``except KeyError`` catches a
missing node, ``except TimeoutError`` a lease that timed out.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousWriteWarning",
    "AttributeNotFoundError",
    "ChunkDataError",
    "ConflictError",
    "CopyError",
    "DocumentTooLargeError",
    "InvalidInputError",
    "InvalidMetadataError",
    "LeaseLost",
    "LeaseTimeout",
    "MalformedNodeWarning",
    "MongoZarrError",
    "MongoZarrWarning",
    "NodeNotFoundError",
    "NotAnArrayError",
    "QueryError",
    "ServerUnavailableError",
    "WriteOutcomeUnknownError",
    "ZPathError",
]


class MongoZarrError(Exception):
    """Base class of every error mongozarr raises on purpose."""


class InvalidMetadataError(MongoZarrError, ValueError):
    """Metadata that MongoDB cannot hold as given (names the offending key)."""


class DocumentTooLargeError(InvalidMetadataError):
    """A node document would exceed MongoDB's 16 MiB document limit."""


class ZPathError(MongoZarrError, ValueError):
    """A malformed zpath or attribute path (the message says where and why)."""


class QueryError(MongoZarrError, ValueError):
    """A query or update the Tree cannot translate, or MongoDB refused."""


class InvalidInputError(MongoZarrError, ValueError):
    """Malformed input other than a path or query: JSON text, a value (the message says which)."""


class _MessageKeyError(KeyError):
    def __str__(self) -> str:
        # KeyError's str() is the repr of its argument; a message reads better.
        return str(self.args[0]) if self.args else ""


class NodeNotFoundError(MongoZarrError, _MessageKeyError):
    """No group or array at the path given."""


class AttributeNotFoundError(MongoZarrError, _MessageKeyError):
    """No attribute at the zpath given (the message names the first missing key)."""


class NotAnArrayError(MongoZarrError, TypeError):
    """An array operation (append, resize) was asked of a group."""


class ConflictError(MongoZarrError):
    """A compare-and-set write found another version than the one expected."""


class LeaseLost(ConflictError):
    """The lease expired and was granted to someone else (or was never held)."""


class LeaseTimeout(MongoZarrError, TimeoutError):
    """A lease could not be acquired within the time allowed."""


class ServerUnavailableError(MongoZarrError, ConnectionError):
    """The server could not be reached, or the connection failed during a read: nothing was changed."""


class WriteOutcomeUnknownError(MongoZarrError, ConnectionError):
    """The connection failed during a write, which the server may or may not have applied.

    Read back before repeating a change that is not idempotent (``$inc``, ``$push``).
    """


class ChunkDataError(MongoZarrError):
    """A chunk's index entry exists but its bytes are missing or kept changing while read."""


class CopyError(MongoZarrError):
    """A copy found the destination different from the source after copying."""


class MongoZarrWarning(UserWarning):
    """Base class of the warnings mongozarr issues."""


class AmbiguousWriteWarning(MongoZarrWarning):
    """Part of a plain zarr metadata write was not made, to keep another writer's change.

    Issued when the write could come from more than one version of the node
    that zarr objects sharing the store hold, and those versions disagree on
    some keys (see "Many writers" in the README).

    Attributes
    ----------
    path
        The node path.
    withheld
        The changes not made: ``("attributes", key)`` or ``("metadata", field)``.
    """

    def __init__(self, message: str, path: str = "", withheld: tuple[tuple[str, str | None], ...] = ()) -> None:
        super().__init__(message)
        self.path = path
        self.withheld = withheld


class MalformedNodeWarning(MongoZarrWarning):
    """A whole-tree operation skipped a node document zarr cannot read.

    Such a document comes from a hand edit (the Mongo shell) or a crash; the
    other nodes are still answered. ``mongozarr fsck`` lists every one.

    Attributes
    ----------
    path
        The node path.
    problem
        What is wrong with the document.
    """

    def __init__(self, message: str, path: str = "", problem: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.problem = problem
