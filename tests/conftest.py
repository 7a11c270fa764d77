"""Test tiers: mongomock (unit), the mongoeco wire server, a real MongoDB.

``store_uri`` is parametrized over the tiers, so one behaviour test runs on
each; every test gets a fresh database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from mongozarr.testing import WireServer, wire_server_available

REAL_URI_VARIABLE = "MONGOZARR_TEST_URI"


def _fresh_name() -> str:
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
def wire_server() -> Iterator[WireServer]:
    """One mongoeco wire server for the whole session (127.0.0.1, free port)."""
    reason = wire_server_available()
    if reason:
        pytest.skip(f"wire tier not run: {reason}")
    with WireServer() as server:
        yield server


@pytest.fixture
def mock_uri() -> str:
    """A fresh in-process mongomock server."""
    return f"mongomock://{_fresh_name()}"


@pytest.fixture
def wire_uri(wire_server: WireServer) -> str:
    """A fresh database on the wire server."""
    return wire_server.uri(_fresh_name())


@pytest.fixture
def real_uri() -> str:
    """A fresh database on the real MongoDB at MONGOZARR_TEST_URI."""
    base = os.environ.get(REAL_URI_VARIABLE)
    if not base:
        pytest.skip(f"real tier not run: {REAL_URI_VARIABLE} is not set (see docker/)")
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path="/" + _fresh_name()))


@pytest.fixture(params=["mock", "wire", "real"])
def store_uri(request: pytest.FixtureRequest) -> str:
    """A fresh database on each tier in turn."""
    return request.getfixturevalue(f"{request.param}_uri")


@pytest.fixture(params=["wire", "real"])
def server_uri(request: pytest.FixtureRequest) -> str:
    """A fresh database on a server reached over TCP (for multi-process tests)."""
    return request.getfixturevalue(f"{request.param}_uri")
