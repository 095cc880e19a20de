"""One influxd for the session; each test writes to a database of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._server import Influx, influxd


@pytest.fixture(scope="session")
def influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influx]:
    with influxd(tmp_path_factory.mktemp("influxd")) as server:
        yield Influx(server)
