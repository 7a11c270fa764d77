"""Creating node documents: the creations in flight go to the server in one insert.

zarr reads a node before it creates it. A node the store read as absent is
created by inserting its whole document (version 1), the document the merge's
upsert would make of a new node (:mod:`~mongozarr.storage.metadata_writes`).
A ``findAndModify`` takes one document, so creations merged one by one cost a
round trip each (200 arrays created with ``asyncio.gather``: 200 round trips);
inserts of one event-loop turn go together as one unordered bulk insert
(:class:`~mongozarr.storage.batching.Coalescer`).

Each creation gets its own outcome. One refused as a duplicate ``_id`` means
the node was created since the read (by another writer, or by another write of
the same batch, as zarr v2 writes ``.zarray`` and ``.zattrs`` of a new array
together): that caller falls back to the merge, which keeps the other writer's
keys. Any other refusal of one document is raised to its caller only; a failure
of the whole request (a connection cut) is raised to every caller of the batch.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from pymongo.errors import BulkWriteError, WriteConcernError, WriteError

from mongozarr.storage.writes import Insert

__all__ = ["insert_nodes"]

_DUPLICATE_KEY = 11000


async def insert_nodes(nodes: Any, requests: dict[Hashable, list[dict[str, Any]]]) -> dict[Hashable, Any]:
    """Insert one new node document per request in one unordered bulk write.

    Parameters
    ----------
    nodes
        The node collection.
    requests
        One document per request token (a :data:`~mongozarr.storage.batching.BatchFunction` batch).

    Returns
    -------
    dict
        Per token: True if its document was inserted, False if a document
        with its ``_id`` exists, or the PyMongo error that refused it.
    """
    tokens = list(requests)
    outcomes: dict[Hashable, Any] = dict.fromkeys(tokens, True)
    try:
        await nodes.bulk_write([Insert(requests[token][0]) for token in tokens], ordered=False)
    except BulkWriteError as error:
        for failure in error.details.get("writeErrors", []):
            token = tokens[failure["index"]]
            code = failure.get("code")
            outcomes[token] = False if code == _DUPLICATE_KEY else WriteError(failure.get("errmsg"), code, failure)
        concern = error.details.get("writeConcernErrors") or []
        if concern:
            # The inserts made may not stay made (as a single write would raise).
            refused = WriteConcernError(concern[0].get("errmsg"), concern[0].get("code"), concern[0])
            outcomes = {token: refused if outcome is True else outcome for token, outcome in outcomes.items()}
    return outcomes
