"""The HTTP adapter's tests run against a real server started here, one per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._server import ScriptedHTTPServer


@pytest.fixture
def server() -> Iterator[ScriptedHTTPServer]:
    with ScriptedHTTPServer() as running:
        yield running
