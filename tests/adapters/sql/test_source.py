"""The SQL sources against the real servers: a query's rows streamed in order, in bounded
fetches, on every executor; a refused query counted, the next firing trying again."""

from __future__ import annotations

import threading
import tracemalloc
from typing import Any

import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName

from pumpcore import Pipeline, Sink
from pumpcore.trigger import PeriodicTrigger, RunOnceTrigger

from ...executors.conftest import run_kwargs
from ._backends import Database

pytestmark = pytest.mark.timeout(60)


class ListSink(Sink):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[Any] = []

    def process(self, context: Any, event: Any) -> None:
        self.events.append(event)


def test_the_query_s_rows_are_emitted_in_order_as_dicts(
    db: Database, executor: ExecutorName
) -> None:
    table = db.table(f"id {db.backend.int_type}, name {db.backend.text_type}")
    db.insert(table, "id, name", [(i, f"n{i}") for i in range(2500)])
    source = db.backend.source(
        connection=db.connection(),
        config={"query": f"SELECT id, name FROM {table} ORDER BY id", "fetch_size": 100},
    ).on(RunOnceTrigger())
    sink = ListSink()
    p = Pipeline("Read")
    p.build(source, sink)
    report = pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))
    assert report.errors == {}
    assert sink.events == [{"id": i, "name": f"n{i}"} for i in range(2500)]


def test_a_refused_query_is_counted_and_the_next_firing_runs_it_again(
    db: Database, executor: ExecutorName
) -> None:
    table = db.name_for_table()  # absent at first
    source = db.backend.source(
        connection=db.connection(), config={"query": f"SELECT id FROM {table}"}
    ).on(PeriodicTrigger(0.05))
    handle = pumpcore_executors.RunHandle()

    class StopOnRow(ListSink):
        def process(self, context: Any, event: Any) -> None:
            super().process(context, event)
            handle.stop()

    sink = StopOnRow()
    p = Pipeline("Retry")  # the hard policy: on_error=continue keeps the source going anyway
    failed = threading.Event()
    p.add_failure_listener(lambda failure: failed.set())

    def create_after_a_failure() -> None:  # off the pipelines' thread: it blocks
        if failed.wait(10):
            db.execute(f"CREATE TABLE {table} (id {db.backend.int_type})")
            db.execute(f"INSERT INTO {table} (id) VALUES (7)")

    creator = threading.Thread(target=create_after_a_failure)
    creator.start()
    p.build(source, sink)
    report = pumpcore_executors.run(
        p, executor=executor, stop_after=10, handle=handle, **run_kwargs(executor)
    )
    creator.join()
    assert report.errors == {}
    assert report.statistics["Retry"].source_error >= 1
    assert sink.events
    assert set(map(str, sink.events)) == {str({"id": 7})}


class Count(Sink):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def process(self, context: Any, event: Any) -> None:
        self.count += 1


def test_a_large_result_streams_in_bounded_memory(db: Database, executor: ExecutorName) -> None:
    rows = 30_000
    query = (
        f"SELECT g AS n, 'some text to make a row weigh' AS t FROM generate_series(1, {rows}) g"
        if db.name == "postgres"
        else f"SELECT seq AS n, 'some text to make a row weigh' AS t FROM seq_1_to_{rows}"
    )
    source = db.backend.source(
        connection=db.connection(), config={"query": query, "fetch_size": 500}
    ).on(RunOnceTrigger())
    sink = Count()
    p = Pipeline("Big")
    p.build(source, sink)
    tracemalloc.start()
    try:
        report = pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.errors == {}
    assert sink.count == rows
    # The whole result as dicts would take about 10 MB; a fetch of 500 a few hundred KB.
    assert peak < 3 * 2**20, f"peak {peak / 2**20:.1f} MiB"
