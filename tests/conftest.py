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
from tests import raw

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
def wire_uri(wire_server: WireServer) -> Iterator[str]:
    """A fresh database on the wire server, dropped afterwards."""
    uri = wire_server.uri(_fresh_name())
    yield uri
    raw.drop(uri)


@pytest.fixture
def real_uri() -> Iterator[str]:
    """A fresh database on the real MongoDB at MONGOZARR_TEST_URI, dropped afterwards."""
    base = os.environ.get(REAL_URI_VARIABLE)
    if not base:
        pytest.skip(f"real tier not run: {REAL_URI_VARIABLE} is not set (see docker/)")
    parts = urlsplit(base)
    uri = urlunsplit(parts._replace(path="/" + _fresh_name()))
    yield uri
    raw.drop(uri)


@pytest.fixture(params=["mock", "wire", "real"])
def store_uri(request: pytest.FixtureRequest) -> str:
    """A fresh database on each tier in turn."""
    return request.getfixturevalue(f"{request.param}_uri")


@pytest.fixture(params=["wire", "real"])
def server_uri(request: pytest.FixtureRequest) -> str:
    """A fresh database on a server reached over TCP (for multi-process tests)."""
    return request.getfixturevalue(f"{request.param}_uri")


# ---------------------------------------------------------------- S3 tier

S3_ENDPOINT_VARIABLE = "MONGOZARR_TEST_S3_ENDPOINT"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3 endpoint: MONGOZARR_TEST_S3_ENDPOINT (e.g. MinIO), else moto on 127.0.0.1.

    Sets the AWS_* variables obstore and boto3 read for the session (moto
    accepts any credentials; a real server's come from the environment).
    """
    external = os.environ.get(S3_ENDPOINT_VARIABLE)
    server = None
    if external:
        endpoint = external
    else:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
    names = (
        "AWS_ENDPOINT_URL",
        "AWS_ALLOW_HTTP",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
    )
    saved = {name: os.environ.get(name) for name in names}
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ["AWS_ALLOW_HTTP"] = "true"
    os.environ.setdefault("AWS_REGION", "us-east-1")
    if server is not None:
        os.environ["AWS_ACCESS_KEY_ID"] = os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    try:
        yield endpoint
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if server is not None:
            server.stop()


@pytest.fixture
def s3_url(s3_endpoint: str) -> str:
    """``s3://BUCKET/PATH`` in a fresh bucket on the S3 endpoint."""
    import boto3

    bucket = "mongozarr-" + _fresh_name()
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/data"


@pytest.fixture(scope="session", autouse=True)
def _close_raw_clients() -> Iterator[None]:
    """The plain PyMongo clients tests inspect the database with are closed at the end."""
    yield
    raw.close_all()
