"""Slow work off the hot path, on every executor: ``async def`` and blocking processors run
concurrently (at most ``async_concurency_limit`` at once), outputs keep input order, failures
follow the policy, stop drains what is in flight, and acknowledgements wait for it."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import anyio
import pumpcore_executors
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pumpcore_executors import ExecutorName

from pumpcore import Context, Failure, Generator, Pipeline, Processor, blocking
from pumpcore.common import (
    Aggregator,
    InternalSource,
    IteratorSource,
    ListEventAggregationStrategy,
    ListSink,
    RouterSink,
)
from pumpcore.testing import run_pipeline

from .conftest import executors, run_kwargs
from .test_acks import DurableSink, RecordingSource

pytestmark = pytest.mark.timeout(30)

CONCURRENT = ("threads", "asyncio", "trio")  # the sync executor runs one call at a time


def delay(event: int) -> float:
    """0 to 9 ms, scrambled, so that calls finish out of order."""
    return ((event * 7919) % 10) / 1000


async def slow_triple(context: Context, event: int) -> int | None:
    await anyio.sleep(delay(event))
    return None if event % 10 == 9 else event * 3


def triple(context: Context, event: int) -> int | None:
    return None if event % 10 == 9 else event * 3


@blocking
def blocking_add(context: Context, event: int) -> int:
    time.sleep(delay(event) / 2)
    return event + 1


def add(context: Context, event: int) -> int:
    return event + 1


def run(executor: ExecutorName, *pipelines: Pipeline, **kwargs: Any) -> Any:
    return pumpcore_executors.run(*pipelines, executor=executor, **run_kwargs(executor), **kwargs)


def counters(p: Pipeline) -> tuple[int, ...]:
    s = p.statistics()
    return (s.event_in, s.event_out, s.event_drop, s.warning, s.error, s.event_generated)


def balanced(p: Pipeline) -> bool:
    s = p.statistics()
    done = s.event_out + s.event_drop + s.warning + s.error + s.event_absorbed
    return s.event_in + s.event_generated == done and p.in_flight() == 0


class Concurrency:
    """Counts calls running at once, from any thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.peak = 0

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


def test_outputs_and_order_are_those_of_synchronous_processors(executor: ExecutorName) -> None:
    events = list(range(300))
    sync_sink, sink = ListSink(), ListSink()
    reference = Pipeline("P")
    reference.build([], add, triple, add, sync_sink)
    expected = run_pipeline(reference, events)
    p = Pipeline("P", config={"async_concurency_limit": 16})
    p.build(IteratorSource(events), blocking_add, slow_triple, add, sink)
    report = run(executor, p, batch_size=32)
    assert sink.Events == expected.outputs
    assert counters(p) == counters(reference)
    assert report.statistics["P"].event_out == len(expected.outputs)
    assert balanced(p)


def test_a_slow_async_processor_keeps_input_order(executor: ExecutorName) -> None:
    finished: list[int] = []

    class Fetch(Processor):
        async def process(self, context: Context, event: int) -> int:
            await anyio.sleep(0.02 - event % 5 * 0.004)  # later events finish first
            finished.append(event)
            return event

    sink = ListSink()
    p = Pipeline("P", config={"async_concurency_limit": 10})
    p.build(IteratorSource(range(100)), Fetch(), sink)
    run(executor, p, batch_size=7)
    assert sink.Events == list(range(100))
    if executor in CONCURRENT:
        assert finished != sorted(finished)  # they really did finish out of order
    assert balanced(p)


@pytest.mark.parametrize("mode", ["async", "blocking"])
def test_the_limit_is_never_exceeded_and_throttles_at_it(executor: ExecutorName, mode: str) -> None:
    limit = 4
    running = Concurrency()

    async def fetch(context: Context, event: int) -> int:
        with running:
            await anyio.sleep(0.002 + delay(event))
        return event

    @blocking
    def lookup(context: Context, event: int) -> int:
        with running:
            time.sleep(0.002 + delay(event))
        return event

    sink = ListSink()
    p = Pipeline("P", config={"async_concurency_limit": limit})
    p.build(IteratorSource(range(150)), fetch if mode == "async" else lookup, sink)
    seen: list[tuple[bool, int, bool]] = []

    def on_ready(ready: bool) -> None:  # called on the thread that owns the pipeline
        if not p.is_stopped():
            by_limit = any("async_concurency_limit" in repr(w) for w in p.get_throttles())
            seen.append((ready, p.in_flight(), by_limit))

    p.add_ready_listener(on_ready)
    run(executor, p, batch_size=64)
    assert sink.Events == list(range(150))
    assert running.peak <= limit
    throttled = [(n, by) for ready, n, by in seen if not ready]
    assert all(n == limit and by for n, by in throttled)  # throttled exactly at the limit
    assert all(n < limit for ready, n, _ in seen if ready)  # released below it
    if executor in CONCURRENT:
        assert running.peak == limit
        assert throttled
    else:
        assert running.peak == 1


@pytest.mark.parametrize("policy", ["soft", "hard"])
def test_a_failing_async_step_follows_the_policy(executor: ExecutorName, policy: str) -> None:
    async def fetch(context: Context, event: int) -> int:
        await anyio.sleep(delay(event))
        if event % 7 == 3:
            raise ValueError(f"bad {event}")
        return event

    failures: list[Failure] = []
    sink = ListSink()
    p = Pipeline("P", config={"async_concurency_limit": 8}, error_policy=policy)  # type: ignore[arg-type]
    p.build(IteratorSource(range(100)), add, fetch, sink)
    p.add_failure_listener(failures.append)
    report = run(executor, p, batch_size=16)
    assert all(f.component_id == "fetch" for f in failures)
    assert all(isinstance(f.exception, ValueError) for f in failures)
    taken = p.statistics().event_in
    expected = [e + 1 for e in range(taken) if (e + 1) % 7 != 3]
    assert sink.Events == expected
    assert balanced(p)
    if policy == "soft":
        assert taken == 100
        assert [f.event for f in failures] == [e for e in range(1, 101) if e % 7 == 3]
        assert p.statistics().warning == len(failures)
    else:
        assert [f.event for f in failures][:1] == [3]  # the first failure stops intake
        assert report.errors["P"].startswith("fetch: ValueError('bad 3')")
        assert p.statistics().error >= 1
        assert taken < 100  # in flight behind the failure still finished; the rest stayed
        if executor == "sync":
            assert taken == 3


def test_stop_drains_what_is_in_flight(executor: ExecutorName) -> None:
    async def fetch(context: Context, event: int) -> int:
        await anyio.sleep(0.05)
        return event

    sink = ListSink()
    p = Pipeline("P", config={"async_concurency_limit": 20})
    p.build(IteratorSource(range(100_000)), fetch, sink)
    report = run(executor, p, stop_after=0.3, batch_size=4)
    stats = report.statistics["P"]
    assert 0 < stats.event_in < 100_000
    assert stats.event_out == stats.event_in  # every event taken went all the way
    assert sink.Events == list(range(stats.event_in))
    assert balanced(p)


@pytest.mark.parametrize("executor_name", executors(*CONCURRENT))
def test_stop_timeout_abandons_in_flight_and_acknowledges_none(executor_name: ExecutorName) -> None:
    async def stuck(context: Context, event: int) -> int:
        await anyio.sleep(60)
        return event

    source, sink = RecordingSource(20), DurableSink()
    p = Pipeline("P", error_policy="soft")
    p.build(source, stuck, sink)
    started = time.monotonic()
    report = pumpcore_executors.run(
        p,
        executor=executor_name,
        stop_after=0.2,
        stop_timeout=0.5,
        handle_signals=False,
    )
    assert time.monotonic() - started < 5
    stats = report.statistics["P"]
    assert stats.event_in == 20
    assert stats.warning == 20  # failed through the policy, counted: nothing lost silently
    assert source.acked == []
    assert balanced(p)


def test_blocking_processors_run_off_the_loop_thread(executor: ExecutorName) -> None:
    # The watchdog (0.5 s on async executors) fails the run if a 0.6 s sleep blocks the loop.
    threads: list[int] = []

    @blocking
    def slow(context: Context, event: int) -> int:
        threads.append(threading.get_ident())
        time.sleep(0.6)
        return event

    sink, other = ListSink(), ListSink()
    p, q = Pipeline("P", config={"async_concurency_limit": 3}), Pipeline("Q")
    p.build(IteratorSource(range(3)), slow, sink)
    q.build(IteratorSource(range(100)), other)
    started = time.monotonic()
    run(executor, p, q)
    assert sink.Events == [0, 1, 2]
    assert other.Events == list(range(100))
    if executor == "sync":
        assert set(threads) == {threading.get_ident()}  # inline: the sync executor's way
    else:
        assert threading.get_ident() not in threads
        assert time.monotonic() - started < 1.5  # the three ran at once


def test_async_processors_run_where_the_executor_awaits(executor: ExecutorName) -> None:
    threads: list[int] = []

    async def where(context: Context, event: int) -> int:
        threads.append(threading.get_ident())
        await anyio.sleep(0)
        return event

    sink = ListSink()
    p = Pipeline("P")
    p.build(IteratorSource(range(10)), where, sink)
    run(executor, p)
    assert sink.Events == list(range(10))
    on_caller = threading.get_ident() in threads
    assert on_caller == (executor in ("asyncio", "trio"))  # the bridge's loop thread otherwise


def test_routing_backpressure_holds_results_instead_of_overfilling(
    executor: ExecutorName,
) -> None:
    class Route(RouterSink):
        def process(self, context: Context, event: int) -> None:
            self.route(context, event, "Child.InternalSource")

    parent, child = Pipeline("Parent", config={"async_concurency_limit": 64}), Pipeline("Child")
    sink = ListSink()
    parent.build(IteratorSource(range(600)), slow_triple, Route())
    child.build(InternalSource(config={"queue_max_size": 8}), sink)
    report = run(executor, parent, child, batch_size=32)
    assert report.errors == {}
    assert report.statistics["Parent"].warning == 0
    assert sink.Events == [e * 3 for e in range(600) if e % 10 != 9]


def test_positions_are_acknowledged_only_after_the_async_step_finished(
    executor: ExecutorName,
) -> None:
    source, sink = RecordingSource(400, chunk=25), DurableSink()
    unsafe: list[int] = []
    original = source.acknowledge

    def acknowledge(positions: Sequence[Any]) -> None:
        durable = set(sink.durable)
        unsafe.extend(pos for pos in positions if pos * 3 not in durable and pos % 10 != 9)
        original(positions)

    source.acknowledge = acknowledge  # type: ignore[method-assign]
    p = Pipeline("P", config={"async_concurency_limit": 32})
    p.build(source, slow_triple, sink)
    run(executor, p, batch_size=16)
    assert unsafe == []
    assert source.acked == list(range(400))
    assert sink.durable == [e * 3 for e in range(400) if e % 10 != 9]


def test_serving_with_async_steps_drains_on_leaving(async_backend: str) -> None:
    sink = ListSink()
    p = Pipeline("P", config={"async_concurency_limit": 5})
    source = InternalSource(config={"queue_max_size": 10})
    p.build(source, slow_triple, blocking_add, sink)

    async def main() -> None:
        async with pumpcore_executors.serving(p, blocking_threshold=0.5):
            for i in range(200):
                await source.put_async({}, i)

    anyio.run(main, backend=async_backend)
    assert sink.Events == [e * 3 + 1 for e in range(200) if e % 10 != 9]
    assert balanced(p)


# ---------------------------------------------------------------- generated pipelines


class Explode(Generator):
    def __init__(self, n: int, id: str) -> None:
        super().__init__(id=id)
        self.n = n

    def generate(self, context: Context, event: int) -> list[int]:
        return [event * 10 + i for i in range(self.n)]


def make_step(kind: str, arg: int, mode: str, index: int) -> Any:
    """A step over ints: the same logic inline, as an ``async def`` or blocking."""
    if kind == "explode":
        return Explode(arg, id=f"explode{index}")

    def logic(event: int) -> int | None:
        if kind == "map":
            return event * 3 + arg
        if kind == "filter":
            return None if event % arg == 0 else event
        if event % arg == 1:
            raise ValueError(f"step{index}: {event}")
        return event

    def step(context: Context, event: int) -> int | None:
        return logic(event)

    async def async_step(context: Context, event: int) -> int | None:
        await anyio.sleep((event % 3) / 2000)
        return logic(event)

    chosen: Any = {"inline": step, "async": async_step, "blocking": blocking(step)}[mode]
    chosen.__name__ = f"step{index}"
    return chosen


steps_strategy = st.lists(
    st.one_of(
        st.tuples(
            st.just("map"), st.integers(-3, 3), st.sampled_from(["inline", "async", "blocking"])
        ),
        st.tuples(
            st.just("filter"), st.integers(2, 5), st.sampled_from(["inline", "async", "blocking"])
        ),
        st.tuples(
            st.just("fail"), st.integers(3, 9), st.sampled_from(["inline", "async", "blocking"])
        ),
        st.tuples(st.just("explode"), st.integers(0, 3), st.just("inline")),
    ),
    max_size=4,
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=steps_strategy,
    events=st.lists(st.integers(-100, 100), max_size=40),
    limit=st.integers(1, 6),
    batch_size=st.integers(1, 16),
)
def test_mixed_sync_and_async_steps_match_the_all_sync_pipeline(
    executor: ExecutorName,
    steps: list[tuple[str, int, str]],
    events: list[int],
    limit: int,
    batch_size: int,
) -> None:
    reference = Pipeline("P", error_policy="soft")
    reference.build(
        [], *(make_step(k, a, "inline", i) for i, (k, a, _) in enumerate(steps)), ListSink()
    )
    expected = run_pipeline(reference, events)
    sink = ListSink()
    p = Pipeline("P", config={"async_concurency_limit": limit}, error_policy="soft")
    p.build(
        IteratorSource(events), *(make_step(k, a, m, i) for i, (k, a, m) in enumerate(steps)), sink
    )
    run(executor, p, batch_size=batch_size)
    assert sink.Events == expected.outputs
    assert counters(p) == counters(reference)
    assert balanced(p)


@pytest.mark.parametrize("where", ["before", "after"])
def test_aggregates_around_an_async_step_are_complete_at_stop(
    executor: ExecutorName, where: str
) -> None:
    # After: in-flight events must reach the aggregator before stop flushes it. Before: what the
    # aggregator flushes on stop goes through the async step and must still reach the sink.
    async def fetch(context: Context, event: Any) -> Any:
        await anyio.sleep(0.001)
        return event

    aggregator = Aggregator(
        aggregation_strategy=ListEventAggregationStrategy(), config={"completion_size": 7}
    )
    sink = ListSink()
    p = Pipeline("P", config={"async_concurency_limit": 8})
    steps: list[Any] = [fetch, aggregator] if where == "after" else [aggregator, fetch]
    p.build(IteratorSource(range(100)), *steps, sink)
    run(executor, p, batch_size=16)
    assert [e for batch in sink.Events for e in batch] == list(range(100))
    assert [len(batch) for batch in sink.Events] == [7] * 14 + [2]
    assert balanced(p)
