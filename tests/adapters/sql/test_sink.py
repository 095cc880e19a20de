"""The SQL sinks against the real servers: rows written in order and committed by flush, bad
events counted and dead-lettered (the good rows of their batch kept), upserts idempotent."""

from __future__ import annotations

from typing import Any

import hypothesis
import pumpcore_executors
import pytest
from hypothesis import strategies as st
from pumpcore_executors import ExecutorName

from pumpcore import Failure, Pipeline, Sink
from pumpcore.common import IteratorSource

from ...executors.conftest import run_kwargs
from ._backends import Database

pytestmark = pytest.mark.timeout(60)


def write(
    db: Database, sink: Sink, events: list[Any], executor: ExecutorName = "sync"
) -> tuple[pumpcore_executors.RunReport, list[Failure]]:
    p = Pipeline("Write", error_policy="soft")
    p.build(IteratorSource(events), sink)
    failures: list[Failure] = []
    p.add_failure_listener(failures.append)
    report = pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))
    return report, failures


def test_rows_are_written_in_one_commit_per_flush(db: Database, executor: ExecutorName) -> None:
    table = db.table(
        f"id {db.backend.int_type}, name {db.backend.text_type}, n {db.backend.int_type}"
    )
    events: list[Any] = [
        {"id": i, "name": f"n{i}", "n": i * 2, "extra": "ignored"} for i in range(3000)
    ]
    events.append([3000, "a sequence", 6000])
    sink = db.backend.sink(
        connection=db.connection(), config={"table": table, "columns": "id,name,n"}
    )
    report, failures = write(db, sink, events, executor)
    assert report.errors == {}
    assert failures == []
    rows = db.execute(f"SELECT id, name, n FROM {table} ORDER BY id")
    assert rows == [(i, f"n{i}" if i < 3000 else "a sequence", i * 2) for i in range(3001)]
    assert sink.statistics().written == 3001  # type: ignore[attr-defined]


def test_flush_commits_so_another_connection_sees_the_rows(db: Database) -> None:
    table = db.table(f"id {db.backend.int_type}")
    sink = db.backend.sink(connection=db.connection(), config={"table": table, "columns": "id"})
    sink.open()  # type: ignore[attr-defined]
    try:
        sink.process({}, {"id": 1})
        assert db.execute(f"SELECT id FROM {table}") == []  # buffered, not written
        sink.flush()
        assert db.execute(f"SELECT id FROM {table}") == [(1,)]
    finally:
        sink.close()  # type: ignore[attr-defined]


def test_bad_rows_are_counted_and_dead_lettered_and_the_rest_written(
    db: Database, executor: ExecutorName
) -> None:
    table = db.table(f"id {db.backend.int_type} NOT NULL, n {db.backend.int_type}")
    dead = db.name_for_table()
    events: list[Any] = []
    for i in range(200):
        if i % 50 == 7:
            events.append({"id": i, "n": "not a number"})  # the server refuses it
        elif i % 50 == 9:
            events.append({"id": None, "n": i})  # NOT NULL
        elif i % 50 == 11:
            events.append({"n": i})  # no id: refused before the server
        else:
            events.append({"id": i, "n": i})
    sink = db.backend.sink(
        connection=db.connection(),
        config={"table": table, "columns": "id, n", "dead_letter_table": dead},
    )
    report, failures = write(db, sink, events, executor)
    assert report.errors == {}
    good = [i for i in range(200) if i % 50 not in (7, 9, 11)]
    assert [r[0] for r in db.execute(f"SELECT id FROM {table} ORDER BY id")] == good
    assert sink.statistics().rejected == 8  # type: ignore[attr-defined]
    assert report.statistics["Write"].warning == 4  # the missing columns
    assert all("has no column 'id'" in str(f.exception) for f in failures)
    dead_rows = db.execute(f"SELECT sink, error, event FROM {dead}")
    assert len(dead_rows) == 8
    assert {r[0] for r in dead_rows} == {sink.Id}


@hypothesis.settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@hypothesis.given(
    kinds=st.lists(
        st.sampled_from(["good", "good", "good", "text", "null", "set", "missing"]), max_size=60
    ),
    method=st.sampled_from(["copy", "insert"]),
)
def test_every_bad_row_is_counted_and_every_good_row_written_once(
    db: Database, executor: ExecutorName, kinds: list[str], method: str
) -> None:
    table = db.table(f"id {db.backend.int_type}, n {db.backend.int_type} NOT NULL")
    events: list[Any] = []
    for i, kind in enumerate(kinds):
        events.append(
            {
                "good": {"id": i, "n": i},
                "text": {"id": i, "n": "x"},
                "null": {"id": i, "n": None},
                "set": {"id": i, "n": {i}},  # refused: by psycopg at flush, by MySQLSink at once
            }.get(kind, {"id": i})
        )
    config = {"table": table, "columns": "id, n"}
    if db.name == "postgres":
        config["method"] = method
    sink = db.backend.sink(connection=db.connection(), config=config)
    report, failures = write(db, sink, events, executor)
    assert [r[0] for r in db.execute(f"SELECT id FROM {table} ORDER BY id")] == [
        i for i, k in enumerate(kinds) if k == "good"
    ]
    at_flush = ("text", "null", "set") if db.name == "postgres" else ("text", "null")
    at_once = ("missing",) if db.name == "postgres" else ("missing", "set")
    assert sink.statistics().rejected == sum(map(kinds.count, at_flush))  # type: ignore[attr-defined]
    assert report.statistics["Write"].warning == sum(map(kinds.count, at_once)) == len(failures)


def test_upsert_makes_a_replay_no_duplicate(db: Database, executor: ExecutorName) -> None:
    table = db.table(f"id {db.backend.int_type} PRIMARY KEY, n {db.backend.int_type}")
    config = {"table": table, "columns": "id, n", "upsert_key": "id"}
    events = [{"id": i, "n": i} for i in range(100)]
    write(db, db.backend.sink(connection=db.connection(), config=config), events, executor)
    replay = [{"id": i, "n": -i} for i in range(50, 150)]
    report, _ = write(
        db, db.backend.sink(connection=db.connection(), config=config), replay, executor
    )
    assert report.errors == {}
    rows = db.execute(f"SELECT id, n FROM {table} ORDER BY id")
    assert rows == [(i, i if i < 50 else -i) for i in range(150)]


def test_a_missing_table_raises_from_flush_and_acknowledges_nothing(db: Database) -> None:
    sink = db.backend.sink(
        connection=db.connection(), config={"table": db.name_for_table(), "columns": "id"}
    )
    p = Pipeline("Missing")  # the hard policy
    p.build(IteratorSource([{"id": 1}]), sink)
    report = pumpcore_executors.run(p, handle_signals=False)
    assert sink.Id in report.errors["Missing"]
