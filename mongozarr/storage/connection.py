"""Where a store's data lives, and one database handle per event loop.

``pymongo.AsyncMongoClient`` binds to the first event loop that uses it, but
zarr runs store coroutines on its own loop thread for the sync API and on the
caller's loop for the async API. A :class:`Connection` therefore keeps the
configuration, not a client, and creates one client per (process, loop)
lazily. It pickles as its configuration, so a store sent to a dask worker or
a spawned process reconnects there.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mongozarr.layout import check_database
from mongozarr.redaction import redact, redact_query
from mongozarr.storage.clients import LoopClients
from mongozarr.storage.sync_facade import SyncFacadeDatabase

__all__ = ["Capabilities", "Connection", "mongomock_server"]

_MOCK_SCHEME = "mongomock"
_MONGO_SCHEMES = ("mongodb", "mongodb+srv")
_DEFAULT_DATABASE = "zarr"
#: PyMongo waits 30 s for a server and forever on a stalled socket by default;
#: a store fails in bounded time instead (a URI or ``client_options`` may say otherwise).
DEFAULT_TIMEOUTS_MS = {"serverSelectionTimeoutMS": 10_000, "connectTimeoutMS": 10_000, "socketTimeoutMS": 300_000}

# In-process mongomock servers by name: every store built from the same
# ``mongomock://name`` URI in one process sees the same data.
_MOCK_SERVERS: dict[str, Any] = {}
_MOCK_GUARD = threading.Lock()


def mongomock_server(name: str) -> Any:
    """The in-process mongomock client behind ``mongomock://name`` (one per name and process)."""
    import mongomock

    with _MOCK_GUARD:
        if name not in _MOCK_SERVERS:
            _MOCK_SERVERS[name] = mongomock.MongoClient()
        return _MOCK_SERVERS[name]


@dataclass(frozen=True)
class Capabilities:
    """What the server behind a connection can do, from its ``hello`` reply.

    Code asks for a capability rather than for a kind of backend, so every
    backend runs the production algorithm wherever it can.

    Attributes
    ----------
    pipeline_updates
        Updates given as aggregation pipelines (MongoDB 4.2+).
    server_clock
        ``$$NOW`` and date arithmetic in expressions (MongoDB 4.2+).
    change_streams
        ``$changeStream`` (replica sets and sharded clusters).
    transactions
        Multi-document transactions (replica sets 4.0+, sharded 4.2+).
    size_expressions
        ``$bsonSize`` in query expressions (MongoDB 4.4+), to bound a
        document's size in the filter of the update that grows it.
    """

    pipeline_updates: bool
    server_clock: bool
    change_streams: bool
    transactions: bool
    size_expressions: bool = False

    @classmethod
    def from_hello(cls, hello: dict[str, Any]) -> Capabilities:
        """Read the capabilities off a ``hello`` command reply."""
        wire = int(hello.get("maxWireVersion", 0))
        replicated = "setName" in hello or hello.get("msg") == "isdbgrid"
        sessions = hello.get("logicalSessionTimeoutMinutes") is not None
        return cls(
            pipeline_updates=wire >= 8,
            server_clock=wire >= 8,
            change_streams=replicated and wire >= 6,
            transactions=replicated and sessions and wire >= (8 if hello.get("msg") == "isdbgrid" else 7),
            size_expressions=wire >= 9,
        )


# mongomock runs in this process: no pipelines, no $$NOW (its clock is ours),
# no change streams, no transactions, no $bsonSize.
IN_PROCESS_CAPABILITIES = Capabilities(
    pipeline_updates=False, server_clock=False, change_streams=False, transactions=False, size_expressions=False
)


def _is_mongomock_client(client: object) -> bool:
    return type(client).__module__.startswith("mongomock")


class Connection:
    """The configuration of a MongoDB connection plus per-loop clients.

    Parameters
    ----------
    target
        A URI (``mongodb://``, ``mongodb+srv://``, ``mongomock://name``), a
        synchronous PyMongo ``MongoClient``, a Motor client (its synchronous
        ``delegate`` is used) or a ``mongomock.MongoClient``. A client object
        is used as given: each call runs in a worker thread (mongomock's
        inline), so it serves any event loop; a connection built from one
        cannot be pickled.
    database
        Database name; defaults to the URI's path, else ``"zarr"``.
    client_options
        Keyword arguments for ``AsyncMongoClient(uri, **client_options)``
        (only with a ``mongodb://`` URI); pickled with the URI.
    """

    def __init__(self, target: Any, database: str | None = None, client_options: dict[str, Any] | None = None) -> None:
        self.uri: str | None = None
        self.client_options: dict[str, Any] = dict(client_options or {})
        # A client object given by the caller, used as given (never pickled).
        self._given_client: Any = None
        uri_database = None
        if isinstance(target, str):
            parts = urlsplit(target)
            if parts.scheme not in (_MOCK_SCHEME, *_MONGO_SCHEMES):
                raise ValueError(
                    f"unsupported URI {redact(target)!r}: expected mongodb://, mongodb+srv:// or mongomock://"
                )
            if parts.scheme == _MOCK_SCHEME and not parts.netloc:
                raise ValueError(f"URI {redact(target)!r} needs a name: mongomock://NAME")
            if parts.scheme in _MONGO_SCHEMES and not parts.netloc.rpartition("@")[2].strip(","):
                raise ValueError(f"URI {redact(target)!r} needs a host: mongodb://HOST[:PORT]/DATABASE")
            if parts.scheme == _MOCK_SCHEME and self.client_options:
                raise ValueError("client_options apply to mongodb:// URIs, not to mongomock://")
            self.uri = target
            uri_database = parts.path.lstrip("/") or None
        else:
            if self.client_options:
                raise ValueError("client_options apply to a URI; a client object comes with its own")
            self._given_client = _sync_client(target)
        self.database_name = check_database(database or uri_database or _DEFAULT_DATABASE)
        self._clients = LoopClients(self._new_client)
        # Closes the clients when this connection is collected; they live in
        # LoopClients, so they are not garbage with it.
        # Not at exit: the clients module's own exit hook closes them, waiting.
        weakref.finalize(self, self._clients.close, None).atexit = False
        self._capabilities: Capabilities | None = None
        # The Database of the client used last (clients are per loop; most stores use one loop).
        self._database: tuple[Any, Any] | None = None

    def _in_process(self) -> bool:
        if self._given_client is not None:
            return _is_mongomock_client(self._given_client)
        return (self.uri or "").startswith(_MOCK_SCHEME + ":")

    async def capabilities(self) -> Capabilities:
        """What the server can do; asked once per connection (one ``hello``)."""
        if self._capabilities is None:
            if self._in_process():
                self._capabilities = IN_PROCESS_CAPABILITIES
            else:
                hello = await self.database().command("hello")
                self._capabilities = Capabilities.from_hello(dict(hello))
        return self._capabilities

    def identity(self) -> tuple[Any, ...]:
        """What makes two connections reach the same data (for ``__eq__``)."""
        if self.uri is None:
            return (id(self._given_client), self.database_name)
        parts = urlsplit(self.uri)
        # The database is compared on its own: mongomock://x equals mongomock://x/zarr.
        return (parts.scheme, parts.netloc, parts.query, self.database_name)

    def describe(self) -> str:
        """A short human-readable location, without credentials."""
        if self.uri is not None:
            parts = urlsplit(self.uri)
            netloc = parts.netloc.rpartition("@")[2]
            query = f"?{redact_query(parts.query)}" if parts.query else ""
            return f"{parts.scheme}://{netloc}/{self.database_name}{query}"
        if _is_mongomock_client(self._given_client):
            return f"mongomock client/{self.database_name}"
        return f"client {_client_address(self._given_client)}/{self.database_name}"

    def database(self) -> Any:
        """The async database handle for the running event loop."""
        if self._given_client is not None:
            return _facade(self._given_client[self.database_name])
        if self._in_process():
            return _facade(mongomock_server(urlsplit(self.uri or "").netloc)[self.database_name])
        client = self._clients.for_running_loop()
        # One Database per client: building one per key cost measurable CPU.
        cached = self._database
        if cached is None or cached[0] is not client:
            cached = self._database = (client, client[self.database_name])
        return cached[1]

    def _new_client(self) -> Any:
        from pymongo import AsyncMongoClient

        return AsyncMongoClient(self.uri, **{**self._default_timeouts(), **self.client_options})

    def _default_timeouts(self) -> dict[str, int]:
        """Finite timeouts unless the URI sets its own (keyword arguments would override it)."""
        given = {item.partition("=")[0].lower() for item in urlsplit(self.uri or "").query.split("&")}
        return {name: value for name, value in DEFAULT_TIMEOUTS_MS.items() if name.lower() not in given}

    def close_clients(self, timeout: float = 2.0) -> None:
        """Close this connection's clients (see :class:`LoopClients`); the next use opens new ones.

        A client object given by the caller is the caller's to close.
        """
        self._clients.close(timeout)

    async def close_clients_async(self) -> None:
        """Close this connection's clients, awaiting the running loop's."""
        await self._clients.close_async()

    def __getstate__(self) -> dict[str, Any]:
        if self._given_client is not None:
            raise TypeError(
                "a store built from a client object cannot be pickled; build it from a URI "
                "(mongodb://..., with client_options=... for client settings, or mongomock://NAME)"
            )
        return {"uri": self.uri, "client_options": self.client_options, "database": self.database_name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["uri"], state["database"], state.get("client_options"))  # type: ignore[misc]


def _sync_client(target: Any) -> Any:
    """The synchronous client behind ``target``; TypeError for what cannot be used as given."""
    if _is_mongomock_client(target):
        return target
    from pymongo import AsyncMongoClient, MongoClient

    # A Motor client wraps a synchronous PyMongo client as ``delegate``.
    client = target.delegate if type(target).__module__.startswith("motor") else target
    if isinstance(client, MongoClient):
        return client
    if isinstance(client, AsyncMongoClient):
        raise TypeError(
            "an AsyncMongoClient binds to one event loop, and zarr runs store calls on several; "
            "pass its URI instead, with client_options=... for its settings"
        )
    raise TypeError(f"expected a MongoDB URI or a PyMongo/Motor/mongomock client, got {type(target).__name__}")


def _facade(database: Any) -> Any:
    """PyMongo's async API over a synchronous database (mongomock's with its own quirks)."""
    if _is_mongomock_client(database.client):
        from mongozarr.testing.mongomock_async import AsyncMockDatabase

        return AsyncMockDatabase(database)
    return SyncFacadeDatabase(database)


def _client_address(client: Any) -> str:
    """Where a PyMongo client connects, from its public topology description."""
    servers = client.topology_description.server_descriptions()
    return ",".join(f"{host}:{port}" for host, port in servers) or "(not connected)"
