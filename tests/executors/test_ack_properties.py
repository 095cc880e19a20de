"""Acknowledgement safety as a hypothesis property, on every executor.

Random pipelines — chains of map, filter, generator, soft or hard failures, async and blocking
steps, aggregators of random sizes, routing to a second pipeline through an InternalSource or a
tee — read integer positions from a ``TracedSource`` and write to sinks whose flushes randomly
fail, under random ``commit_every``, ``batch_size`` and read sizes. Every event carries its
position (``tests/executors/_tracing.py``), so each acknowledgement is checked as it comes:

- no position is acknowledged before every event derived from it, and from every earlier
  position, was flushed by a sink or dropped on purpose;
- acknowledgements are strictly increasing, without gaps, from the first position;
- nothing is written twice; what is written is what the steps make of the input;
- with no hard failure and no failed flush, every position is acknowledged by the end, and with
  no failure at all the durable output is exactly the reference's.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import anyio
import attrs
import pumpcore_executors
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pumpcore_executors import ExecutorName

from pumpcore import Context, ErrorPolicy, Generator, Pipeline, Pump, blocking
from pumpcore.common import (
    Aggregator,
    InternalSource,
    ListEventAggregationStrategy,
    RouterSink,
    TeeProcessor,
)

from ._tracing import DurableSink, Event, Leaf, TracedSource, Tracker, leaves
from .conftest import run_kwargs

pytestmark = pytest.mark.timeout(120)

Kind = Literal["map", "filter", "explode", "fail", "async", "blocking", "aggregate"]
StepSpec = tuple[Kind, int]


def leaf_step(kind: Kind, arg: int, leaf: Leaf) -> list[Leaf]:
    """What a step makes of one leaf (failures and pass-through steps keep it)."""
    position, path, value = leaf
    if kind == "map":
        return [(position, path, (value * 3 + arg) % 1000)]
    if kind == "filter":
        return [] if value % arg == 0 else [leaf]
    if kind == "explode":
        return [(position, (*path, i), (value * 7 + i) % 1000) for i in range(arg)]
    return [leaf]


def fails(arg: int, event: Event) -> bool:
    return any(value % arg == 1 for _, _, value in leaves(event))


def transform(event: Event, kind: Kind, arg: int, tracker: Tracker) -> list[Event]:
    """A leaf becomes its leaves; an aggregate stays one aggregate (of what its leaves became),
    or nothing once no leaf is left. The tracker learns how many leaves each input became."""
    if isinstance(event, tuple):
        out = leaf_step(kind, arg, event)
        tracker.add([event], len(out) - 1)
        return list(out)
    aggregate: list[Event] = []
    for item in event:
        made = transform(item, kind, arg, tracker)
        aggregate.extend(made if isinstance(item, tuple) else [made])  # nesting kept
    return [aggregate] if leaves(aggregate) else []


class Explode(Generator):
    def __init__(self, arg: int, tracker: Tracker, id: str) -> None:
        super().__init__(id=id)
        self.arg, self.tracker = arg, tracker

    def generate(self, context: Context, event: Event) -> list[Event]:
        return transform(event, "explode", self.arg, self.tracker)


def build_step(spec: StepSpec, index: int, tracker: Tracker, policy: ErrorPolicy) -> Any:
    kind, arg = spec
    name = f"{kind}{index}"
    if kind == "explode":
        return Explode(arg, tracker, id=name)
    if kind == "aggregate":
        return Aggregator(
            id=name,
            aggregation_strategy=ListEventAggregationStrategy(),
            config={"completion_size": arg},
        )
    if kind == "async":

        async def offloaded(context: Context, event: Event) -> Event:
            # Some finish later than the next ones: the results are put back in order.
            await anyio.sleep(0.002 if leaves(event)[0][2] % 3 == 0 else 0)
            return event

        step: Any = offloaded
    elif kind == "blocking":

        @blocking
        def threaded(context: Context, event: Event) -> Event:
            return event

        step = threaded
    elif kind == "fail":

        def fail(context: Context, event: Event) -> Event:
            if fails(arg, event):
                if policy == "soft":
                    tracker.done(leaves(event))  # the soft policy drops it: done on purpose
                raise ValueError(f"{name}: {event!r}")
            return event

        step = fail
    else:

        def one_to_one(context: Context, event: Event) -> Event | None:
            made = transform(event, kind, arg, tracker)
            return made[0] if made else None

        step = one_to_one
    step.__name__ = name
    return step


def relabel(event: Event) -> Event:
    """The tee's copy: the same leaves, told apart by their path."""
    if isinstance(event, tuple):
        return (event[0], (*event[1], "t"), event[2])
    return [relabel(item) for item in event]


class RouteAll(RouterSink):
    def __init__(self, tracker: Tracker, policy: ErrorPolicy) -> None:
        super().__init__()
        self.tracker, self.policy = tracker, policy

    def process(self, context: Context, event: Event) -> None:
        try:
            self.route(context, event, "B.InternalSource")
        except Exception:  # a full queue: the soft policy drops the event on purpose
            if self.policy == "soft":
                self.tracker.done(leaves(event))
            raise


class Tee(TeeProcessor):
    def __init__(self, tracker: Tracker, policy: ErrorPolicy) -> None:
        super().__init__()
        self.tracker, self.policy = tracker, policy

    def process(self, context: Context, event: Event) -> Event:
        copy = relabel(event)
        try:
            self.route(dict(context), copy, "B.InternalSource")
        except Exception:
            if self.policy == "soft":
                self.tracker.done(leaves(event))
            raise
        self.tracker.add(leaves(copy))
        return event


@attrs.frozen
class Spec:
    values: tuple[int, ...]
    a_steps: tuple[StepSpec, ...]
    route: Literal["none", "router", "tee"]
    b_steps: tuple[StepSpec, ...]
    a_policy: ErrorPolicy
    b_policy: ErrorPolicy
    queue_size: int
    a_fail_flushes: frozenset[int]
    b_fail_flushes: frozenset[int]
    commit_every: int
    batch_size: int
    read_chunk: int


def reference(spec: Spec) -> list[Leaf]:
    """Every leaf the sinks get when nothing fails, computed without the engine."""

    def through(steps: Sequence[StepSpec], found: list[Leaf]) -> list[Leaf]:
        for kind, arg in steps:
            found = [out for leaf in found for out in leaf_step(kind, arg, leaf)]
        return found

    a_out = through(spec.a_steps, [(p, (), v) for p, v in enumerate(spec.values)])
    if spec.route == "none":
        return sorted(a_out)
    b_in = a_out if spec.route == "router" else [(p, (*path, "t"), v) for p, path, v in a_out]
    b_out = through(spec.b_steps, b_in)
    return sorted(b_out + (a_out if spec.route == "tee" else []))


step_specs = st.one_of(
    st.tuples(st.just("map"), st.integers(0, 5)),
    st.tuples(st.just("filter"), st.integers(2, 6)),
    st.tuples(st.just("explode"), st.integers(0, 3)),
    st.tuples(st.just("fail"), st.integers(5, 40)),
    st.tuples(st.just("async"), st.just(0)),
    st.tuples(st.just("blocking"), st.just(0)),
    st.tuples(st.just("aggregate"), st.integers(1, 12)),
)
flush_failures = st.frozensets(st.integers(1, 8), max_size=2)


specs = st.builds(
    Spec,
    values=st.lists(st.integers(0, 999), max_size=60).map(tuple),
    a_steps=st.lists(step_specs, max_size=4).map(tuple),
    route=st.sampled_from(["none", "router", "tee"]),
    b_steps=st.lists(step_specs, max_size=3).map(tuple),
    a_policy=st.sampled_from(["soft", "hard"]),
    b_policy=st.sampled_from(["soft", "hard"]),
    queue_size=st.integers(1, 20),
    a_fail_flushes=flush_failures,
    b_fail_flushes=flush_failures,
    commit_every=st.integers(1, 64),
    batch_size=st.integers(1, 32),
    read_chunk=st.integers(1, 40),
)


@attrs.define
class Built:
    pipelines: list[Pipeline]
    source: TracedSource
    sinks: list[DurableSink]


def build(spec: Spec, tracker: Tracker) -> Built:
    source = TracedSource(spec.values, tracker, chunk=spec.read_chunk)
    a = Pipeline("A", error_policy=spec.a_policy)
    a_steps = [build_step(s, i, tracker, spec.a_policy) for i, s in enumerate(spec.a_steps)]
    if spec.route == "none":
        sink = DurableSink(tracker, spec.a_fail_flushes)
        a.build(source, *a_steps, sink)
        Pump([a])
        return Built([a], source, [sink])
    b = Pipeline("B", error_policy=spec.b_policy)
    b_sink = DurableSink(tracker, spec.b_fail_flushes)
    b_steps = [build_step(s, i, tracker, spec.b_policy) for i, s in enumerate(spec.b_steps)]
    b.build(InternalSource(config={"queue_max_size": spec.queue_size}), *b_steps, b_sink)
    sinks = [b_sink]
    if spec.route == "router":
        a.build(source, *a_steps, RouteAll(tracker, spec.a_policy))
    else:
        a_sink = DurableSink(tracker, spec.a_fail_flushes)
        a.build(source, *a_steps, Tee(tracker, spec.a_policy), a_sink)
        sinks.append(a_sink)
    Pump([a, b])
    return Built([a, b], source, sinks)


def durable_leaves(sinks: Sequence[DurableSink]) -> Iterator[Leaf]:
    for sink in sinks:
        for written in sink.durable:
            yield from leaves(written)


def check(spec: Spec, executor: ExecutorName) -> str:
    """Run ``spec`` and check it (module docs); a summary of what happened, for statistics."""
    tracker = Tracker()
    built = build(spec, tracker)
    source = built.source
    report = pumpcore_executors.run(
        *built.pipelines,
        executor=executor,
        batch_size=spec.batch_size,
        commit_every=spec.commit_every,
        **run_kwargs(executor),
    )
    assert source.violations == []
    assert source.acked == list(range(len(source.acked)))
    written = list(durable_leaves(built.sinks))
    ids = [(position, path) for position, path, _ in written]
    assert len(ids) == len(set(ids)), "an event was written twice"
    expected = reference(spec)
    assert set(written) <= set(expected)
    assert all(sink.closed == 1 for sink in built.sinks)
    assert source.closed
    flush_failed = any(sink.failed_flushes for sink in built.sinks)
    if not report.errors and not flush_failed:
        assert source.acked == list(range(len(spec.values)))
        failures = sum(s.failed for s in report.statistics.values())
        if not failures:
            assert sorted(written) == expected
            assert all(n == 0 for n in tracker.live.values())
    acked = "all" if len(source.acked) == len(spec.values) else "part"
    return f"hard error: {bool(report.errors)}, failed flush: {flush_failed}, acked: {acked}"


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=specs)
def test_no_position_is_acknowledged_before_what_derives_from_it_is_durable(
    executor: ExecutorName, spec: Spec
) -> None:
    event(check(spec, executor))  # --hypothesis-show-statistics shows how often each happened


SCRIPTED = {
    # Aggregates spanning batches, an async step behind them, routed through a small queue.
    "aggregate-async-router": Spec(
        values=tuple(range(200)),
        a_steps=(("aggregate", 7), ("async", 0)),
        route="router",
        b_steps=(("explode", 2), ("aggregate", 5)),
        a_policy="soft",
        b_policy="soft",
        queue_size=3,
        a_fail_flushes=frozenset(),
        b_fail_flushes=frozenset(),
        commit_every=5,
        batch_size=4,
        read_chunk=9,
    ),
    # A tee, a blocking step, filters, soft failures and a failing flush of the tee's target.
    "tee-blocking-flush-failure": Spec(
        values=tuple(range(0, 600, 3)),
        a_steps=(("blocking", 0), ("filter", 4), ("fail", 17)),
        route="tee",
        b_steps=(("async", 0), ("aggregate", 3)),
        a_policy="soft",
        b_policy="soft",
        queue_size=8,
        a_fail_flushes=frozenset(),
        b_fail_flushes=frozenset({3}),
        commit_every=8,
        batch_size=6,
        read_chunk=11,
    ),
    # A hard failure in the child: the parent's positions from its batch on wait for good.
    "hard-failure-in-child": Spec(
        values=tuple(range(300)),
        a_steps=(("map", 2),),  # (3 * 150 + 2) % 451 == 1: 150 fails
        route="router",
        b_steps=(("async", 0), ("fail", 451)),
        a_policy="soft",
        b_policy="hard",
        queue_size=10,
        a_fail_flushes=frozenset(),
        b_fail_flushes=frozenset(),
        commit_every=10,
        batch_size=8,
        read_chunk=16,
    ),
}


@pytest.mark.parametrize("name", SCRIPTED)
def test_scripted_pipelines_acknowledge_safely(executor: ExecutorName, name: str) -> None:
    check(SCRIPTED[name], executor)


def test_a_run_whose_child_failed_hard_ends_by_itself(
    executor: ExecutorName, request: pytest.FixtureRequest
) -> None:
    # The parent's async results wait (backpressure) for a queue whose pipeline failed hard and
    # never drains it: nothing can ever happen, so the run must end by itself (machine rule 5).
    spec = attrs.evolve(
        SCRIPTED["hard-failure-in-child"], a_steps=(("async", 0),), b_steps=(("fail", 151),)
    )
    built = build(spec, Tracker())
    # Without stop_after (rule 5 is for runs without a deadline): a SIGTERM after 2 s ends a
    # run that hangs. A no-op handler of ours catches one that comes after the run restored it.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGTERM))
    started = time.monotonic()
    timer.start()
    try:
        report = pumpcore_executors.run(
            *built.pipelines,
            executor=executor,
            batch_size=spec.batch_size,
            commit_every=spec.commit_every,
            stop_timeout=0.5,
            handle_signals=True,
        )
    finally:
        timer.cancel()
        timer.join()
        signal.signal(signal.SIGTERM, previous)
    assert "B" in report.errors
    assert built.source.violations == []
    assert time.monotonic() - started < 1.5


def test_stop_flushes_an_aggregate_behind_an_async_step_fed_by_another_aggregate(
    executor: ExecutorName, request: pytest.FixtureRequest
) -> None:
    # At stop the first aggregator emits its partial aggregate; it reaches the second one only
    # after the async step, by which time the pipeline was stopped: the second aggregate is
    # never emitted, so the event is never written (nor acknowledged, nor reported).
    spec = Spec(
        values=(0, 1, 2),
        a_steps=(("aggregate", 2), ("async", 0), ("aggregate", 2)),
        route="none",
        b_steps=(),
        a_policy="soft",
        b_policy="soft",
        queue_size=1,
        a_fail_flushes=frozenset(),
        b_fail_flushes=frozenset(),
        commit_every=1,
        batch_size=1,
        read_chunk=1,
    )
    check(spec, executor)
