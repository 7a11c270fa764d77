"""The exceptions mongozarr raises, as one small hierarchy callers can catch."""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "DocumentTooLargeError",
    "InvalidMetadataError",
    "LockTimeout",
    "MongoZarrError",
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
