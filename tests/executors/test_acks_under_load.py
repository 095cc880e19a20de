"""Acknowledgements advance while the run goes on, not only at stop, and what holds one pipeline's
positions back (an event in flight, an open aggregate, a hard failure) holds back no other's."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName

from pumpcore import Context, Pipeline
from pumpcore.common import Aggregator, ListEventAggregationStrategy

from ._tracing import DurableSink, EndlessSource
from .conftest import run_kwargs

pytestmark = pytest.mark.timeout(60)

RUN_FOR = 0.8  # seconds of steady load per run
DURING = 3  # commits that must come before the stop, at the least


async def checkpoint(context: Context, event: int) -> int:
    await anyio.sleep(0)  # a real suspension: the event is in flight across executor turns
    return event


def run(executor: ExecutorName, *pipelines: Pipeline) -> Any:
    # Commits every 256 positions rather than 1000: the sync executor takes ~5000 events/s
    # through an async step here, a loaded CI machine fewer; the margin stays wide.
    return pumpcore_executors.run(
        *pipelines,
        executor=executor,
        stop_after=RUN_FOR,
        commit_every=256,
        **run_kwargs(executor),
    )


def durable_ints(sink: DurableSink) -> set[int]:
    found: set[int] = set()
    for event in sink.durable:
        found.update(event if isinstance(event, list) else [event])
    return found


def test_acknowledgements_advance_under_steady_load_through_an_async_step(
    executor: ExecutorName,
) -> None:
    source, sink = EndlessSource(), DurableSink()
    p = Pipeline("P")
    p.build(source, checkpoint, sink)
    report = run(executor, p)
    assert report.errors == {}
    assert source.violations == []  # in order, without gaps, never after close
    assert source.next > 1000  # the load was steady
    during = source.acks_before(source.last_read_at)
    assert during >= DURING, f"{during} commits before the stop, {len(source.ack_times)} in all"
    # Everything processed is acknowledged by the end (what the stop left read but not taken is
    # not: it is read again after a restart).
    assert sink.durable == source.acked


def test_an_always_open_aggregate_holds_back_only_its_own_source(executor: ExecutorName) -> None:
    # A's aggregate never completes before stop; B, independent, is acknowledged as it goes.
    a_source, a_sink = EndlessSource(limit=100, id="A-source"), DurableSink()
    a = Pipeline("A")
    aggregator = Aggregator(
        aggregation_strategy=ListEventAggregationStrategy(), config={"completion_size": 10**6}
    )
    a.build(a_source, aggregator, a_sink)
    b_source, b_sink = EndlessSource(id="B-source"), DurableSink()
    b = Pipeline("B")
    b.build(b_source, checkpoint, b_sink)
    report = run(executor, a, b)
    assert report.errors == {}
    assert a_source.violations == b_source.violations == []
    stop = b_source.last_read_at
    assert a_source.acks_before(stop) == 0  # nothing while the aggregate was open
    assert a_source.acked == list(range(100))  # all of it once stop emitted the aggregate
    assert a_sink.durable == [list(range(100))]
    assert b_source.acks_before(stop) >= DURING
    assert b_sink.durable == b_source.acked


def test_a_hard_error_holds_back_only_the_failing_pipelines_source(executor: ExecutorName) -> None:
    failed_at: list[float] = []

    def fail_at_50(context: Context, event: int) -> int:
        if event == 50:
            failed_at.append(time.monotonic())
            raise ValueError("50")
        return event

    a_source, a_sink = EndlessSource(limit=200, chunk=16, id="A-source"), DurableSink()
    a = Pipeline("A")  # the hard policy, BSPump's default
    a.build(a_source, fail_at_50, a_sink)
    b_source, b_sink = EndlessSource(id="B-source"), DurableSink()
    b = Pipeline("B")
    b.build(b_source, checkpoint, b_sink)
    report = run(executor, a, b)
    assert list(report.errors) == ["A"]
    assert a_source.violations == b_source.violations == []
    assert len(a_source.acked) < 50  # nothing from the failing batch on
    assert set(a_source.acked) <= durable_ints(a_sink)
    assert failed_at
    stop = b_source.last_read_at
    after_failure = b_source.acks_before(stop) - b_source.acks_before(failed_at[0])
    assert after_failure >= DURING  # B's commits went on after A failed
    assert b_sink.durable == b_source.acked
