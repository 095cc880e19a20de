"""Window analyzers under every executor: disorder within the lateness gives the sorted
stream's windows, late events reach a side pipeline, clock-driven windows close on the
executor's clock, and a position is acknowledged only once the window using it is durable."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pumpcore_executors
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pumpcore_executors import ExecutorName

from pumpcore import BlockingSink, BlockingSource, Pipeline, Received
from pumpcore.analyzer import TimeWindowAnalyzer
from pumpcore.common import InternalSource, IteratorSource, ListSink
from pumpcore.testing import VirtualClock

from .conftest import run_kwargs

pytestmark = pytest.mark.timeout(60)


class CountByKey(TimeWindowAnalyzer):
    """Events ``{"key", "t"}`` (and ints: key ``n % 3``, time ``n``); counts per key per slot."""

    def evaluate(self, context: dict[str, Any], event: Any) -> None:
        key, ts = (event % 3, event) if isinstance(event, int) else (event["key"], event["t"])
        matrix = self.TimeWindow
        row = matrix.get_row_index(key)
        if row is None:
            row = matrix.add_row(key)
        column = matrix.get_column(ts)
        if column is not None:
            matrix.Array[row][column] += 1


def is_window(event: Any) -> bool:
    return isinstance(event, dict) and "window_start" in event


def run_windows(executor: ExecutorName, events: Sequence[Any], lateness: float) -> list[Any]:
    sink = ListSink()
    p = Pipeline("W")
    p.build(
        IteratorSource(list(events)),
        CountByKey(resolution=10, columns=4, config={"allowed_lateness": lateness}),
        sink,
    )
    report = pumpcore_executors.run(p, executor=executor, batch_size=7, **run_kwargs(executor))
    assert report.errors == {}
    return [e for e in sink.Events if is_window(e)]


@st.composite
def streams_within_lateness(draw: st.DrawFn) -> tuple[list[dict[str, Any]], float]:
    lateness = draw(st.sampled_from([0.0, 10.0, 25.0]))
    n = draw(st.integers(0, 40))
    times = draw(st.lists(st.integers(0, 150), min_size=n, max_size=n))
    delays = draw(st.lists(st.integers(0, int(lateness)), min_size=n, max_size=n))
    keys = draw(st.lists(st.sampled_from("xy"), min_size=n, max_size=n))
    order = sorted(range(n), key=lambda i: (times[i] + delays[i], i))
    return [{"key": keys[i], "t": times[i]} for i in order], lateness


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stream=streams_within_lateness())
def test_disorder_within_the_lateness_gives_the_sorted_windows(
    executor: ExecutorName, stream: tuple[list[dict[str, Any]], float]
) -> None:
    events, lateness = stream
    shuffled = run_windows(executor, events, lateness)
    ordered = run_windows(executor, sorted(events, key=lambda e: e["t"]), lateness)
    assert shuffled == ordered
    assert sum(sum(w["values"].values()) for w in shuffled) == len(events)


def test_late_events_reach_a_side_pipeline(executor: ExecutorName) -> None:
    late_sink, sink = ListSink(), ListSink()
    side = Pipeline("Late")
    side.build(InternalSource(), late_sink)
    late_input = side.locate_source("InternalSource")
    assert isinstance(late_input, InternalSource)
    analyzer = CountByKey(resolution=10, columns=2, late_output=late_input.put)
    main = Pipeline("Main")
    events = [{"key": "a", "t": t} for t in (1, 15, 2, 30, 14, 3)]
    main.build(IteratorSource(events), analyzer, sink)
    pumpcore_executors.run(main, side, executor=executor, **run_kwargs(executor))
    assert late_sink.Events == [{"key": "a", "t": t} for t in (2, 14, 3)]
    assert [w["values"] for w in sink.Events if is_window(w)] == [{"a": 1}, {"a": 1}, {"a": 1}]
    assert analyzer.TimeWindow.Counters["events.late"] == 3


def test_clock_driven_windows_close_on_the_executors_clock(executor: ExecutorName) -> None:
    class Clocked(BlockingSource):
        """Yields one event per read, stamped with the clock, at 3 s intervals."""

        def __init__(self, clock: VirtualClock) -> None:
            super().__init__(config={"poll_interval": 3.0})
            self.clock, self.n = clock, 0

        def read(self, max_items: int) -> list[Received] | None:
            if self.n == 12:
                return None
            self.n += 1
            self.clock.advance(3.0)
            return [Received({"key": "k", "t": self.clock.time()})]

    clock = VirtualClock(start=1000.0)
    sink = ListSink()
    p = Pipeline("C")
    p.build(Clocked(clock), CountByKey(resolution=10, columns=3, clock_driven=True), sink)
    pumpcore_executors.run(p, executor=executor, clock=clock, **run_kwargs(executor))
    found = [w for w in sink.Events if is_window(w)]
    assert sum(sum(w["values"].values()) for w in found) == 12
    starts = [w["window_start"] for w in found]
    assert starts == sorted(set(starts))
    assert starts[0] == 1000.0


class RecordingSource(BlockingSource):
    """Reads ints 0..n-1 (position == event == its time), 25 at a time."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.next = n, 0
        self.acked: list[int] = []

    def read(self, max_items: int) -> list[Received] | None:
        if self.next >= self.n:
            return None
        stop = min(self.n, self.next + min(25, max_items))
        items = [Received(i, position=i) for i in range(self.next, stop)]
        self.next = stop
        return items

    def acknowledge(self, positions: Sequence[Any]) -> None:
        self.acked.extend(positions)


class DurableSink(BlockingSink):
    def __init__(self) -> None:
        super().__init__()
        self.buffer: list[Any] = []
        self.durable: list[Any] = []

    def process(self, context: dict[str, Any], event: Any) -> None:
        self.buffer.append(event)

    def flush(self) -> None:
        self.durable.extend(self.buffer)
        self.buffer.clear()


def test_a_position_is_acknowledged_only_once_its_window_is_durable(
    executor: ExecutorName,
) -> None:
    source, sink = RecordingSource(600), DurableSink()
    p = Pipeline("P")
    p.build(source, CountByKey(resolution=50, columns=2), sink)
    unsafe: list[int] = []
    original = source.acknowledge

    def acknowledge(positions: Sequence[Any]) -> None:
        durable = {w["window_start"] for w in sink.durable if is_window(w)}
        unsafe.extend(p for p in positions if p // 50 * 50 not in durable)
        original(positions)

    source.acknowledge = acknowledge  # type: ignore[method-assign]
    pumpcore_executors.run(
        p, executor=executor, batch_size=10, commit_every=20, **run_kwargs(executor)
    )
    assert unsafe == []
    assert source.acked == list(range(600))
    found = [w for w in sink.durable if is_window(w)]
    assert [w["window_start"] for w in found] == list(range(0, 600, 50))
    assert all(sum(w["values"].values()) == 50 for w in found)
