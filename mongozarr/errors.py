"""The exceptions mongozarr raises, as one small hierarchy callers can catch."""

from __future__ import annotations

__all__ = [
    "AmbiguousWriteWarning",
    "ConflictError",
    "DocumentTooLargeError",
    "InvalidMetadataError",
    "LockTimeout",
    "MongoZarrError",
    "NodeNotFoundError",
    "QueryError",
    "ZPathError",
]


class MongoZarrError(Exception):
    """Base class of every error mongozarr raises on purpose."""


class InvalidMetadataError(MongoZarrError, ValueError):
    """Metadata that MongoDB cannot hold as given (names the offending key)."""


class DocumentTooLargeError(InvalidMetadataError):
    """A node document would exceed MongoDB's 16 MiB document limit."""


class ConflictError(MongoZarrError):
    """A compare-and-set write found another version than the one expected."""


class LockTimeout(MongoZarrError, TimeoutError):
    """A lease could not be acquired within the time allowed."""


class ZPathError(MongoZarrError, ValueError):
    """A malformed zpath or attribute path (the message says where and why)."""


class QueryError(MongoZarrError, ValueError):
    """A query or update the Tree cannot translate, or MongoDB refused."""


class NodeNotFoundError(MongoZarrError, KeyError):
    """No group or array at the path given."""

    def __str__(self) -> str:
        # KeyError's str() is the repr of its argument; a message reads better.
        return str(self.args[0]) if self.args else ""


class AmbiguousWriteWarning(UserWarning):
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
