"""What makes two stores the same: equality, hashing, pickling and how a store prints.

A store is its connection and its options; ``read_only`` is part of its
identity too. Copies (pickled, :meth:`with_read_only`) are rebuilt from them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mongozarr.storage.connection import Connection

__all__ = ["StoreIdentity"]


class StoreIdentity:
    """Equality, hashing, pickling and repr of a store, from its connection and options."""

    _connection: Connection
    read_only: bool
    prefix: str

    def _options(self) -> dict[str, Any]:
        """Every option but the connection and ``read_only``: what a copy of this store needs."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, StoreIdentity)
            and self._connection.identity() == other._connection.identity()
            and self.read_only == other.read_only
            and self._options() == other._options()
        )

    def __hash__(self) -> int:
        return hash((self._connection.identity(), self.prefix, self.read_only))

    def __str__(self) -> str:
        return f"{self._connection.describe()}#{self.prefix}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self}', read_only={self.read_only})"

    def __getstate__(self) -> dict[str, Any]:
        return {"connection": self._connection, "read_only": self.read_only, **self._options()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        connection = state.pop("connection")
        self.__init__(connection, **state)  # type: ignore[misc]
