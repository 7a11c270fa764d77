"""zarr's own store conformance suite, run against MongoStore on each tier."""

from __future__ import annotations

from typing import Any

import pytest
from zarr.core.buffer import Buffer, cpu
from zarr.testing.store import StoreTests

from mongozarr import MongoStore
from tests import raw


class _MongoStoreTests(StoreTests[MongoStore, cpu.Buffer]):
    store_cls = MongoStore
    buffer_cls = cpu.Buffer

    @pytest.fixture
    def store_kwargs(self, uri: str) -> dict[str, Any]:
        return {"target": uri}

    async def set(self, store: MongoStore, key: str, value: Buffer) -> None:
        raw.write_key(raw.database(self._uri(store)), key, value.to_bytes())

    async def get(self, store: MongoStore, key: str) -> Buffer:
        data = raw.read_key(raw.database(self._uri(store)), key)
        assert data is not None, key
        return self.buffer_cls.from_bytes(data)

    @staticmethod
    def _uri(store: MongoStore) -> str:
        assert store.connection.uri is not None
        return store.connection.uri

    def test_store_repr(self, store: MongoStore) -> None:
        text = repr(store)
        assert text.startswith("MongoStore(") and store.connection.database_name in text

    def test_store_supports_writes(self, store: MongoStore) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: MongoStore) -> None:
        assert store.supports_listing


class TestMongoStoreMock(_MongoStoreTests):
    """The unit tier: in-process mongomock."""

    @pytest.fixture
    def uri(self, mock_uri: str) -> str:
        return mock_uri


@pytest.mark.wire
class TestMongoStoreWire(_MongoStoreTests):
    """The wire tier: real PyMongo over TCP to the mongoeco server."""

    @pytest.fixture
    def uri(self, wire_uri: str) -> str:
        return wire_uri


@pytest.mark.real
class TestMongoStoreReal(_MongoStoreTests):
    """The real tier: a MongoDB server at MONGOZARR_TEST_URI."""

    @pytest.fixture
    def uri(self, real_uri: str) -> str:
        return real_uri
