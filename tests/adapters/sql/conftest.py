"""Each SQL test runs against each real database server (PostgreSQL, MariaDB), and each test
body taking ``executor`` under every executor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ...executors.conftest import executor as executor
from ._backends import BACKENDS, Database, database


@pytest.fixture(params=list(BACKENDS))
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    with database(request.param) as running:
        yield running
