"""The engine's invariants as hypothesis properties."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from pumpcore import Generator, Pipeline, Pump, QueueFullError
from pumpcore.common import InternalSource, ListSink, RouterSink
from pumpcore.testing import run_pipeline

# A step is described by data so hypothesis can shrink it: ("map", k) adds k, ("filter", m) drops
# multiples of m, ("fail", m) raises on multiples of m, ("split", n) emits n copies.
step_specs = st.one_of(
    st.tuples(st.just("map"), st.integers(-3, 3)),
    st.tuples(st.just("filter"), st.integers(2, 5)),
    st.tuples(st.just("fail"), st.integers(2, 7)),
    st.tuples(st.just("split"), st.integers(0, 3)),
)


class Copies(Generator):
    def __init__(self, n: int, id: str) -> None:
        super().__init__(id=id)
        self.n = n

    def generate(self, context: dict[str, Any], event: Any) -> list[Any]:
        return [event] * self.n


def make_step(spec: tuple[str, int], index: int) -> Any:
    kind, k = spec
    if kind == "split":
        return Copies(k, id=f"split{index}")

    def step(context: dict[str, Any], event: tuple[int, int]) -> tuple[int, int] | None:
        seq, value = event
        if kind == "map":
            return seq, value + k
        if kind == "filter":
            return None if value % k == 0 else event
        if value % k == 0:
            raise ValueError(f"bad value {value}")
        return event

    step.__name__ = f"{kind}{index}"
    return step


def reference(specs: list[tuple[str, int]], events: list[tuple[int, int]]) -> list[Any]:
    """What the chain must output, computed without the engine."""
    out = list(events)
    for kind, k in specs:
        nxt: list[Any] = []
        for seq, value in out:
            if kind == "map":
                nxt.append((seq, value + k))
            elif (kind == "filter" and value % k != 0) or (kind == "fail" and value % k != 0):
                nxt.append((seq, value))
            elif kind == "split":
                nxt.extend([(seq, value)] * k)
        out = nxt
    return out


@given(
    specs=st.lists(step_specs, max_size=5),
    values=st.lists(st.integers(-50, 50), max_size=60),
    batch=st.integers(1, 20),
)
def test_nothing_lost_or_duplicated_and_order_kept(
    specs: list[tuple[str, int]], values: list[int], batch: int
) -> None:
    events = list(enumerate(values))
    p = Pipeline("P", error_policy="soft")
    sink = ListSink()
    p.build([], *[make_step(s, i) for i, s in enumerate(specs)], sink)
    for start in range(0, len(events), batch):
        assert p.process_events(events[start : start + batch]) == len(events[start : start + batch])
    assert sink.Events == reference(specs, events)
    s = p.statistics()
    assert s.event_in == len(events)
    assert s.event_in + s.event_generated == (
        s.event_out + s.event_drop + s.warning + s.error + s.event_absorbed
    )
    if not any(kind == "split" for kind, _ in specs):
        assert s.event_in == s.event_out + s.event_drop + s.failed


@given(values=st.lists(st.integers(0, 20), max_size=40), bad=st.integers(2, 5))
def test_hard_error_takes_exactly_up_to_the_failing_event(values: list[int], bad: int) -> None:
    def check(context: dict[str, Any], event: int) -> int:
        if event % bad == 0:
            raise ValueError(event)
        return event

    p = Pipeline("P")
    p.build([], check, ListSink())
    result = run_pipeline(p, values, stop=False)
    first_bad = next((i for i, v in enumerate(values) if v % bad == 0), None)
    if first_bad is None:
        assert result.outputs == values
        assert not p.is_error()
    else:
        assert result.outputs == values[:first_bad]
        assert result.unprocessed == values[first_bad + 1 :]
        assert p.is_error()
        assert result.statistics.error == 1


class LifecycleMachine(RuleBasedStateMachine):
    """Start, feed, fail, recover, throttle, stop: intake follows readiness at every step."""

    @initialize()
    def setup(self) -> None:
        self.sink = ListSink()
        self.p = Pipeline("P")
        self.p.build([], self.check, self.sink)
        self.expected: list[int] = []
        self.throttlers: set[str] = set()
        self.failed = False
        self.stopped = False

    @staticmethod
    def check(context: dict[str, Any], event: int) -> int:
        if event < 0:
            raise ValueError(event)
        return event

    @rule(events=st.lists(st.integers(0, 100), min_size=1, max_size=5))
    def feed_good(self, events: list[int]) -> None:
        taken = self.p.process_events(events)
        if self.failed or self.stopped or self.throttlers:
            assert taken == 0
        else:
            assert taken == len(events)
            self.expected.extend(events)

    @rule()
    def feed_bad(self) -> None:
        taken = self.p.process_events([-1, 7])
        if self.failed or self.stopped or self.throttlers:
            assert taken == 0
        else:
            assert taken == 1  # the failing event was taken, the next one was not
            self.failed = True

    @precondition(lambda self: self.failed)
    @rule()
    def recover(self) -> None:
        self.p.recover()
        self.failed = False

    @rule(who=st.sampled_from(["a", "b"]), enable=st.booleans())
    def throttle(self, who: str, enable: bool) -> None:
        self.p.throttle(who, enable)
        if enable:
            self.throttlers.add(who)
        else:
            self.throttlers.discard(who)

    @rule()
    def stop(self) -> None:
        self.p.stop(0.0)
        self.stopped = True

    @invariant()
    def readiness_and_outputs(self) -> None:
        assert self.p.is_ready() == (not (self.failed or self.stopped or self.throttlers))
        assert self.p.is_error() == self.failed
        assert self.sink.Events == self.expected


TestLifecycle = LifecycleMachine.TestCase
TestLifecycle.settings = settings(max_examples=50, stateful_step_count=30, deadline=None)


@given(
    bound=st.integers(1, 8),
    ops=st.lists(st.one_of(st.just(("put", 0)), st.tuples(st.just("pump"), st.integers(1, 5)))),
)
def test_internal_source_never_holds_more_than_its_bound(
    bound: int, ops: list[tuple[str, int]]
) -> None:
    p = Pipeline("Child")
    sink = ListSink()
    source = InternalSource(config={"queue_max_size": bound})
    p.build(source, sink)
    put = refused = 0
    for op, n in ops:
        if op == "put":
            try:
                source.put({}, put)
                put += 1
            except QueueFullError:
                refused += 1
                assert len(source) == bound
        else:
            source.pump(n)
        assert len(source) <= bound
    while source.has_pending():
        source.pump(bound)
    assert sink.Events == list(range(put))


@given(
    parents=st.lists(st.integers(0, 9), min_size=1, max_size=8),
    target=st.integers(0, 8),
)
def test_throttling_a_child_throttles_every_ancestor_and_releases_them(
    parents: list[int], target: int
) -> None:
    # Pipeline i+1 is linked to a parent among 0..i: a random tree rooted at pipeline 0.
    pipelines = [Pipeline(f"P{i}") for i in range(len(parents) + 1)]
    parent_of = {i + 1: parents[i] % (i + 1) for i in range(len(parents))}
    for child, parent in parent_of.items():
        pipelines[child].link(pipelines[parent])
    node = target % len(pipelines)
    ancestors = {node}
    while node in parent_of:
        node = parent_of[node]
        ancestors.add(node)
    throttled = pipelines[target % len(pipelines)]
    throttled.throttle("queue", True)
    assert {i for i, p in enumerate(pipelines) if not p.is_ready()} == ancestors
    throttled.throttle("queue", False)
    assert all(p.is_ready() for p in pipelines)


class ToChild(RouterSink):
    def process(self, context: dict[str, Any], event: Any) -> None:
        self.route(context, event, "Child.InternalSource")


@settings(max_examples=50)
@given(n=st.integers(0, 200), bound=st.integers(2, 20), batch=st.integers(1, 30))
def test_backpressure_between_pipelines_loses_nothing(n: int, bound: int, batch: int) -> None:
    parent, child = Pipeline("Parent"), Pipeline("Child")
    sink = ListSink()
    child.build(InternalSource(config={"queue_max_size": bound}), sink)
    parent.build([], ToChild())
    Pump([parent, child])
    queue = child.locate_source("InternalSource")
    assert isinstance(queue, InternalSource)
    pending = list(range(n))
    while pending or queue.has_pending():
        if parent.is_ready() and pending:
            taken = parent.process_events(pending[:batch])
            pending = pending[taken:]
        queue.pump(batch)
        assert len(queue) <= bound
    assert sink.Events == list(range(n))
    assert parent.statistics().failed == 0
