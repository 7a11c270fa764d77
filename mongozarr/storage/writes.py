"""Bulk write requests whose parts stay readable.

PyMongo's write models (``ReplaceOne``, ...) keep their filter and document
in private fields. mongozarr's bulk writes use these subclasses instead: any
PyMongo collection accepts them as the models they are, and a facade that
replays a bulk write one request at a time (the in-process mongomock backend)
reads their parts from public attributes.
"""

from __future__ import annotations

from typing import Any

from pymongo import DeleteOne, InsertOne, ReplaceOne, UpdateOne

__all__ = ["Delete", "Insert", "Replace", "Update", "Write"]


class Replace(ReplaceOne):
    """Replace the document matching ``filter`` with ``document`` (insert it if ``upsert``)."""

    def __init__(self, filter: dict[str, Any], document: dict[str, Any], upsert: bool = False) -> None:
        super().__init__(filter, document, upsert=upsert)
        self.filter = filter
        self.document = document
        self.upsert = upsert


class Update(UpdateOne):
    """Apply ``update`` to the document matching ``filter`` (create it if ``upsert``)."""

    def __init__(self, filter: dict[str, Any], update: dict[str, Any], upsert: bool = False) -> None:
        super().__init__(filter, update, upsert=upsert)
        self.filter = filter
        self.update = update
        self.upsert = upsert


class Insert(InsertOne):
    """Insert ``document``."""

    def __init__(self, document: dict[str, Any]) -> None:
        super().__init__(document)
        self.document = document


class Delete(DeleteOne):
    """Delete the document matching ``filter``."""

    def __init__(self, filter: dict[str, Any]) -> None:
        super().__init__(filter)
        self.filter = filter


#: One request of a bulk write.
Write = Replace | Update | Insert | Delete
