"""Synchronous forms of a store's ``get``, ``set`` and ``delete``, for callers outside zarr."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zarr.core.sync import sync

if TYPE_CHECKING:
    from zarr.abc.store import ByteRequest
    from zarr.core.buffer import Buffer, BufferPrototype

__all__ = ["SyncMethods"]


class SyncMethods:
    """``get_sync``, ``set_sync``, ``delete_sync``: each runs the async method on zarr's loop thread."""

    def get_sync(
        self,
        key: str,
        *,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        """Synchronous :meth:`get` (runs on zarr's event loop thread)."""
        return sync(self.get(key, prototype, byte_range))  # type: ignore[attr-defined]

    def set_sync(self, key: str, value: Buffer) -> None:
        """Synchronous :meth:`set` (runs on zarr's event loop thread)."""
        sync(self.set(key, value))  # type: ignore[attr-defined]

    def delete_sync(self, key: str) -> None:
        """Synchronous :meth:`delete` (runs on zarr's event loop thread)."""
        sync(self.delete(key))  # type: ignore[attr-defined]
