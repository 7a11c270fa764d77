"""The zarr Store on MongoDB: the store, its chunk backends, connections and store URLs."""

from mongozarr.storage.store import DEFAULT_INLINE_THRESHOLD, MongoStore
from mongozarr.storage.urls import open_store

__all__ = ["DEFAULT_INLINE_THRESHOLD", "MongoStore", "open_store"]
