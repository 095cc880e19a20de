"""The SQL sinks against ``pumpcore.testing.conformance``'s sink check, on every executor: a
position is acknowledged only once its rows are committed, in order; closed in order."""

from __future__ import annotations

from typing import Any

import pytest
from pumpcore_executors import ExecutorName

from pumpcore import Sink
from pumpcore.testing import conformance

from ._backends import Database

pytestmark = pytest.mark.timeout(60)


def test_the_sink_conforms(db: Database, executor: ExecutorName) -> None:
    order = "id bigserial" if db.name == "postgres" else "id bigint AUTO_INCREMENT PRIMARY KEY"
    table = db.table(f"{order}, seq {db.backend.int_type}")

    def read_durable() -> list[Any]:
        return [{"seq": r[0]} for r in db.execute(f"SELECT seq FROM {table} ORDER BY id")]

    def make_sink() -> Sink:
        return db.backend.sink(
            connection=db.connection(), config={"table": table, "columns": "seq"}
        )

    result = conformance.check_sink(make_sink, read_durable, executor)
    assert result.flushes >= 2
    assert len(read_durable()) == 450
