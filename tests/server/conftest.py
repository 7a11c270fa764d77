"""Fixtures of the local server tests: a served directory, stopped afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.processes import Foreground, require_server, start_foreground


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Foreground]:
    """``mongozarr serve`` on a fresh directory, in the foreground, on a free port."""
    require_server()
    server = start_foreground(tmp_path / "lab")
    yield server
    server.stop()
