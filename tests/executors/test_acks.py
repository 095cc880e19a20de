"""At-least-once: a position is acknowledged only after every event derived from it is durable,
dropped on purpose or dead-lettered; a failed write is never acknowledged; order is kept."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName

from pumpcore import (
    AsyncSource,
    BlockingSink,
    BlockingSource,
    Pipeline,
    Processor,
    Received,
    TriggerSource,
)
from pumpcore.common import (
    Aggregator,
    InternalSource,
    ListEventAggregationStrategy,
    RouterSink,
)
from pumpcore.lowlevel import Held, Origin, Rejected, hold
from pumpcore.trigger import PeriodicTrigger

from .conftest import run_kwargs

pytestmark = pytest.mark.timeout(30)


class RecordingSource(BlockingSource):
    """Reads ``n`` ints (position == event) in chunks, records what it was asked to ack."""

    def __init__(self, n: int, chunk: int = 50) -> None:
        super().__init__()
        self.n, self.chunk, self.next = n, chunk, 0
        self.acked: list[int] = []
        self.opened = self.closed = False

    def open(self) -> None:
        self.opened = True

    def read(self, max_items: int) -> Sequence[Received] | None:
        if self.next >= self.n:
            return None
        stop = min(self.n, self.next + min(self.chunk, max_items))
        items = [Received(i, position=i) for i in range(self.next, stop)]
        self.next = stop
        return items

    def acknowledge(self, positions: Sequence[Any]) -> None:
        assert not self.closed
        self.acked.extend(positions)

    def close(self) -> None:
        self.closed = True


class AsyncRecordingSource(AsyncSource):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.inner = RecordingSource(n)

    async def read(self, max_items: int) -> Sequence[Received] | None:
        return self.inner.read(max_items)

    async def acknowledge(self, positions: Sequence[Any]) -> None:
        self.inner.acknowledge(positions)


class DurableSink(BlockingSink):
    """Buffers in ``process``; ``flush`` makes the buffer durable, or fails on chosen flushes
    (the buffer is then lost, as a refused bulk would be)."""

    def __init__(self, fail_on: frozenset[int] = frozenset()) -> None:
        super().__init__()
        self.buffer: list[int] = []
        self.durable: list[int] = []
        self.flushes = 0
        self.fail_on = fail_on
        self.closed = False

    def process(self, context: dict[str, Any], event: int) -> None:
        self.buffer.append(event)

    def flush(self) -> None:
        self.flushes += 1
        batch, self.buffer = self.buffer, []
        if self.flushes in self.fail_on:
            raise ConnectionError(f"flush {self.flushes} refused")
        self.durable.extend(batch)

    def close(self) -> None:
        self.closed = True


def run(executor: ExecutorName, *pipelines: Pipeline) -> Any:
    return pumpcore_executors.run(
        *pipelines, executor=executor, batch_size=32, **run_kwargs(executor)
    )


def test_every_position_is_acknowledged_in_order_after_its_write(executor: ExecutorName) -> None:
    source, sink = RecordingSource(1000), DurableSink()
    p = Pipeline("P")
    p.build(source, lambda c, e: None if e % 7 == 0 else e, sink)
    run(executor, p)
    assert source.acked == list(range(1000))  # dropped on purpose counts as done
    assert sink.durable == [e for e in range(1000) if e % 7]
    assert source.opened
    assert source.closed
    assert sink.closed


@pytest.mark.parametrize("failing_flush", [1, 2])
def test_a_failed_write_is_never_acknowledged(executor: ExecutorName, failing_flush: int) -> None:
    # Commits come every 1000 positions or when idle; the failing flush loses its batch, and
    # nothing from there on is acknowledged.
    source, sink = RecordingSource(3000, chunk=20), DurableSink(fail_on=frozenset({failing_flush}))
    p = Pipeline("P", error_policy="soft")
    p.build(source, sink)
    report = run(executor, p)
    assert report.statistics["P"].source_error == 1
    durable = set(sink.durable)
    assert all(position in durable for position in source.acked)
    assert source.acked == list(range(len(source.acked)))  # in order, a prefix
    assert len(source.acked) < 3000  # nothing after the failure: a restart replays from there
    if failing_flush == 1:
        assert source.acked == []
    else:
        assert source.acked  # the first commit went through (when is up to the executor)


def test_a_hard_event_failure_stops_acknowledgements(executor: ExecutorName) -> None:
    def boom(context: dict[str, Any], event: int) -> int:
        if event == 500:
            raise ValueError("500")
        return event

    source, sink = RecordingSource(1000), DurableSink()
    p = Pipeline("P")
    p.build(source, boom, sink)
    run(executor, p)
    assert 500 not in source.acked
    assert source.acked == list(range(len(source.acked)))
    assert all(a in set(sink.durable) for a in source.acked)


def test_positions_wait_for_routed_events_and_held_events(executor: ExecutorName) -> None:
    class Route(RouterSink):
        def process(self, context: dict[str, Any], event: int) -> None:
            self.route(context, event, "Child.InternalSource")

    class HoldAll(Processor):
        def __init__(self) -> None:
            super().__init__()
            self.held: list[tuple[int, Origin]] = []

        def process(self, context: dict[str, Any], event: int) -> None:
            self.held.append((event, hold()))

        def on_stop(self, now: float) -> list[Held]:
            held, self.held = self.held, []
            return [Held({}, e, origin) for e, origin in held]

    source, sink = RecordingSource(300), DurableSink()
    parent, child = Pipeline("Parent"), Pipeline("Child")
    holder = HoldAll()
    parent.build(source, Route())
    child.build(InternalSource(config={"queue_max_size": 8}), holder, sink)
    acked_before_stop: list[int] = []
    original = source.acknowledge

    def acknowledge(positions: Sequence[Any]) -> None:
        if holder.held:
            acked_before_stop.extend(positions)
        original(positions)

    source.acknowledge = acknowledge  # type: ignore[method-assign]
    run(executor, parent, child)
    assert acked_before_stop == []  # nothing while an event was held
    assert source.acked == list(range(300))
    assert sink.durable == list(range(300))


def test_async_source_acknowledges_after_writes(executor: ExecutorName) -> None:
    # Natively on asyncio and trio; through the bridge's loop thread on sync and threads.
    source, sink = AsyncRecordingSource(500), DurableSink()
    p = Pipeline("P")
    p.build(source, sink)
    pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))
    assert source.inner.acked == list(range(500))
    assert sink.durable == list(range(500))


def test_positions_in_an_open_aggregate_are_not_acknowledged(executor: ExecutorName) -> None:
    # Aggregates of 64: the events of a partial aggregate are not durable until it is flushed,
    # so no commit may acknowledge them before the aggregate completes (or stop flushes it).
    aggregator = Aggregator(
        aggregation_strategy=ListEventAggregationStrategy(), config={"completion_size": 64}
    )
    source, sink = RecordingSource(300), DurableListSink()
    p = Pipeline("P")
    p.build(source, aggregator, sink)
    unsafe: list[int] = []
    original = source.acknowledge

    def acknowledge(positions: Sequence[Any]) -> None:
        durable = {e for batch in sink.durable for e in batch}
        unsafe.extend(pos for pos in positions if pos not in durable)
        original(positions)

    source.acknowledge = acknowledge  # type: ignore[method-assign]
    run(executor, p)
    assert unsafe == []
    assert source.acked == list(range(300))
    assert [e for batch in sink.durable for e in batch] == list(range(300))


class DurableListSink(BlockingSink):
    """Keeps aggregates; durable after flush."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer: list[list[int]] = []
        self.durable: list[list[int]] = []

    def process(self, context: dict[str, Any], event: list[int]) -> None:
        self.buffer.append(event)

    def flush(self) -> None:
        self.durable.extend(self.buffer)
        self.buffer.clear()


class _Tick(TriggerSource):
    def cycle(self) -> None:
        self.process(1)


def test_a_buffering_sink_behind_a_trigger_source_is_flushed_during_the_run(
    executor: ExecutorName,
) -> None:
    # No I/O source, so no positions: the sink still gets flush points while the run goes on.
    sink = DurableSink()
    p = Pipeline("P")
    p.build(_Tick().on(PeriodicTrigger(0.01)), sink)
    report = pumpcore_executors.run(p, executor=executor, stop_after=0.5, **run_kwargs(executor))
    assert report.errors == {}
    assert sink.flushes > 2  # not only the final flush at stop
    assert len(sink.durable) == report.statistics["P"].event_out > 2


class RejectingSource(BlockingSource):
    """Reads like ``RecordingSource``, but every multiple of 10 is bad input: a ``Rejected``."""

    def __init__(self, n: int, chunk: int) -> None:
        super().__init__()
        self.inner = RecordingSource(n, chunk)

    def read(self, max_items: int) -> Sequence[Received | Rejected] | None:
        items = self.inner.read(max_items)
        if items is None:
            return None
        return [
            Rejected(f"raw {r.event}", "a multiple of ten", r.position) if r.event % 10 == 0 else r
            for r in items
        ]

    def acknowledge(self, positions: Sequence[Any]) -> None:
        self.inner.acknowledge(positions)


def test_rejected_inputs_are_dead_lettered_counted_and_acknowledged_in_order(
    executor: ExecutorName,
) -> None:
    source, sink, dead = RejectingSource(1000, chunk=30), DurableSink(), DurableSink()
    p = Pipeline("P")  # the hard policy: rejects are not failures the policy decides on
    p.build(source, sink)
    p.set_dead_letter(dead)
    report = run(executor, p)
    assert report.errors == {}
    assert source.inner.acked == list(range(1000))  # a reject's position is done too
    assert sink.durable == [e for e in range(1000) if e % 10]
    failures: list[Any] = dead.durable
    assert [f.event for f in failures] == [f"raw {e}" for e in range(0, 1000, 10)]
    stats = report.statistics["P"]
    assert (stats.event_in, stats.rejected, stats.dead_letter) == (900, 100, 100)
