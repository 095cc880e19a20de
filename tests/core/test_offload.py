"""Rule 5 of the pipeline, scripted: async and blocking steps are handed to the executor through
the link, and their results are passed on in order, counted once, within the concurrency limit.

A fake link collects the offloaded calls; the tests resume them in whatever order they choose.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpcore import ConfigError, Context, Generator, Pipeline, Processor, Sink, blocking
from pumpcore.common import ListSink
from pumpcore.lowlevel import Offload, step_mode
from pumpcore.testing import run_chain, run_pipeline

T = TypeVar("T")


class FakeLink:
    """An ExecutorLink that keeps offloaded calls for the test to resume."""

    def __init__(self) -> None:
        self.calls: list[Offload] = []

    def notify(self) -> None:
        pass

    def changed(self) -> Awaitable[None]:
        raise RuntimeError("not async")

    def process(self, pipeline: Pipeline, event: Any, context: Context | None) -> None:
        pipeline.process(event, context)

    def process_many(
        self, pipeline: Pipeline, events: Sequence[Any], contexts: Sequence[Context] | None
    ) -> None:
        for i, event in enumerate(events):
            pipeline.process(event, None if contexts is None else contexts[i])

    def offload(self, call: Offload) -> None:
        self.calls.append(call)

    def is_owner_thread(self) -> bool:
        return True

    def call(self, fn: Callable[[], T]) -> T:
        return fn()

    def take(self) -> list[Offload]:
        calls, self.calls = self.calls, []
        return calls


async def fetch(context: Context, event: int) -> int | None:
    return event


def double(context: Context, event: int) -> int:
    return event * 2


def balanced(p: Pipeline) -> bool:
    s = p.statistics()
    done = s.event_out + s.event_drop + s.warning + s.error + s.event_absorbed
    return s.event_in + s.event_generated == done + p.in_flight()


def served(*steps: Any, limit: int = 1000, policy: Any = "hard") -> tuple[Pipeline, FakeLink, Any]:
    p = Pipeline("P", config={"async_concurency_limit": limit}, error_policy=policy)
    sink = ListSink()
    p.build([], *steps, sink)
    link = FakeLink()
    p.Executor = link
    return p, link, sink


# ---------------------------------------------------------------- marking


def test_step_modes() -> None:
    class AsyncProc(Processor):
        async def process(self, context: Context, event: Any) -> Any:
            return event

    class BlockingProc(Processor):
        blocking = True

    class AsyncCallable:
        async def __call__(self, context: Context, event: Any) -> Any:
            return event

    assert step_mode(double) == "inline"
    assert step_mode(fetch) == "async"
    assert step_mode(AsyncProc()) == "async"
    assert step_mode(AsyncCallable()) == "async"
    assert step_mode(BlockingProc()) == "blocking"
    assert step_mode(blocking(lambda c, e: e)) == "blocking"
    marked = Processor()
    marked.blocking = True
    assert step_mode(marked) == "blocking"
    assert blocking(BlockingProc) is BlockingProc


def test_bad_marks_are_refused() -> None:
    with pytest.raises(TypeError, match="async def"):
        blocking(fetch)

    class Both(Processor):
        blocking = True

        async def process(self, context: Context, event: Any) -> Any:
            return event

    class AsyncGen(Generator):
        async def generate(self, context: Context, event: Any) -> Any:  # type: ignore[override]
            return [event]

    class SlowSink(Sink):
        blocking = True

    p = Pipeline("P")
    with pytest.raises(ConfigError, match=r"'Both' is an async def and marked blocking"):
        p.append_processor(Both())
    with pytest.raises(ConfigError, match=r"generator 'AsyncGen' is async"):
        p.append_processor(AsyncGen())
    with pytest.raises(ConfigError, match=r"sink 'SlowSink' is blocking.*BlockingSink"):
        p.append_processor(SlowSink())
    assert p.processor_ids() == ()
    with pytest.raises(
        ConfigError, match="config key 'async_concurency_limit' must be a finite number >= 1, got 0"
    ):
        Pipeline("Q", config={"async_concurency_limit": 0})


# ---------------------------------------------------------------- without an executor


def test_without_an_executor_blocking_runs_inline_and_async_is_a_type_error() -> None:
    @blocking
    def add(context: Context, event: int) -> int | None:
        return None if event == 2 else event + 1

    assert run_chain([add, double], [1, 2, 3]) == [4, 8]
    p = Pipeline("P")
    p.build([], add, ListSink())
    outcome = run_pipeline(p, [1, 2])
    assert outcome.outputs == [2]
    assert outcome.statistics.event_drop == 1
    with pytest.raises(TypeError, match=r"processor 'fetch' is async.*needs an executor"):
        run_chain([double, fetch], [1])
    q = Pipeline("Q")
    q.build([], fetch, ListSink())
    with pytest.raises(TypeError, match="pumpcore_executors"):
        q.process_events([1])
    with pytest.raises(TypeError, match="pumpcore_executors"):
        q.process(1)
    assert q.statistics().event_in == 0  # refused before anything was taken


# ---------------------------------------------------------------- with a link


def test_results_are_passed_on_in_suspension_order() -> None:
    p, link, sink = served(double, fetch, double)
    assert p.process_events([1, 2, 3, 4]) == 4
    calls = link.take()
    assert [c.event for c in calls] == [2, 4, 6, 8]
    assert [c.sequence for c in calls] == [0, 1, 2, 3]
    assert {c.component_id for c in calls} == {"fetch"}
    assert all(c.is_async and c.index == 1 for c in calls)
    assert p.in_flight() == 4
    assert balanced(p)
    p.resume(calls[2], 60)
    p.resume(calls[1], None)  # a drop
    assert sink.Events == []  # the first is still running
    p.resume(calls[0], 20)
    assert sink.Events == [40, 120]  # the second dropped, the fourth still running
    assert p.in_flight() == 1
    p.resume(calls[3], 80)
    assert sink.Events == [40, 120, 160]
    assert p.in_flight() == 0
    stats = p.statistics()
    assert (stats.event_in, stats.event_out, stats.event_drop) == (4, 3, 1)
    assert balanced(p)


def test_late_and_double_resumes_are_ignored() -> None:
    p, link, sink = served(fetch)
    p.process_events([1])
    [call] = link.take()
    p.resume(call, 1)
    p.resume(call, 2)
    p.resume_failed(call, ValueError("late"))
    assert sink.Events == [1]
    other = Pipeline("Other")
    with pytest.raises(ValueError, match="belongs to pipeline 'P'"):
        other.resume(call, 1)


def test_a_failure_follows_the_policy_with_the_steps_id() -> None:
    failures: list[Any] = []
    p, link, sink = served(double, fetch, policy="soft")
    p.add_failure_listener(failures.append)
    p.process_events([1, 2, 3])
    calls = link.take()
    p.resume_failed(calls[1], ValueError("boom"))
    p.resume(calls[2], 6)
    assert failures == []  # in its turn
    p.resume(calls[0], 2)
    assert sink.Events == [2, 6]
    [failure] = failures
    assert (failure.component_id, failure.event, failure.soft) == ("fetch", 4, True)
    assert str(failure.exception) == "boom"
    assert p.statistics().warning == 1
    assert balanced(p)


def test_a_hard_failure_stops_intake_and_what_is_in_flight_still_finishes() -> None:
    p, link, sink = served(fetch)
    p.process_events([1, 2, 3])
    calls = link.take()
    p.resume_failed(calls[0], ValueError("boom"))
    assert p.is_error()
    assert p.last_error is not None
    assert p.last_error.component_id == "fetch"
    assert p.process_events([4]) == 0
    p.resume(calls[1], 2)
    p.resume(calls[2], 3)
    assert sink.Events == [2, 3]
    assert p.statistics().error == 1
    assert balanced(p)


def test_the_limit_queues_calls_and_throttles_at_it() -> None:
    p, link, sink = served(fetch, limit=3)
    readiness: list[tuple[bool, int]] = []
    p.add_ready_listener(lambda ready: readiness.append((ready, p.in_flight())))
    assert p.process_events([0, 1, 2, 3, 4]) == 3  # throttled at the third
    assert readiness == [(False, 3)]
    assert [repr(w) for w in p.get_throttles()] == ["<async_concurency_limit of pipeline 'P'>"]
    calls = link.take()
    assert len(calls) == 3
    p.resume(calls[1], 1)
    assert not p.is_ready()  # finished but waiting for the first: still in flight
    p.resume(calls[0], 0)
    assert sink.Events == [0, 1]
    assert readiness[-1] == (True, 1)  # released below the limit
    assert p.process_events([3, 4]) == 2
    assert not p.is_ready()
    p.inject({}, 100, 0)  # more arrives past the limit: queued, not handed over
    assert len(link.calls) == 2
    assert p.in_flight() == 4
    p.resume(calls[2], 2)
    assert not p.is_ready()  # still three in flight
    [c3, c4, c100] = link.take()
    assert (c3.event, c4.event, c100.event) == (3, 4, 100)
    for call in (c100, c4, c3):
        p.resume(call, call.event)
    assert sink.Events == [0, 1, 2, 3, 4, 100]
    assert p.is_ready()
    assert balanced(p)


def test_generated_events_fan_out_past_the_limit_but_never_run_past_it() -> None:
    class Explode(Generator):
        def generate(self, context: Context, event: int) -> list[int]:
            return [event * 10 + i for i in range(5)]

    p, link, sink = served(Explode(), fetch, limit=2)
    p.process_events([1])
    assert p.in_flight() == 5
    running = link.take()
    assert [c.event for c in running] == [10, 11]
    order = []
    while running:
        call = running.pop()
        p.resume(call, call.event)
        running.extend(link.take())
        order.append(call.event)
        assert len(running) <= 2
    assert sink.Events == [10, 11, 12, 13, 14]
    assert balanced(p)


def test_backpressure_from_downstream_holds_results_back() -> None:
    p, link, sink = served(fetch)
    p.process_events([1, 2])
    calls = link.take()
    p.throttle("downstream", True)
    p.resume(calls[0], 1)
    p.resume(calls[1], 2)
    assert sink.Events == []
    assert p.in_flight() == 2
    p.throttle("downstream", False)
    assert sink.Events == [1, 2]


def test_blocking_steps_and_two_offloaded_steps_keep_order() -> None:
    @blocking
    def lookup(context: Context, event: int) -> int:
        return event + 1

    p, link, sink = served(fetch, double, lookup)
    p.process_events([1, 2, 3])
    first = link.take()
    p.resume(first[1], 2)
    p.resume(first[0], 1)
    second = link.take()
    assert [(c.component_id, c.is_async, c.event) for c in second] == [
        ("lookup", False, 2),
        ("lookup", False, 4),
    ]
    p.resume(first[2], 3)
    third = link.take()
    p.resume(third[0], third[0].function(third[0].context, third[0].event))
    assert sink.Events == []
    for call in second:
        p.resume(call, call.function(call.context, call.event))
    assert sink.Events == [3, 5, 7]
    assert balanced(p)


def test_abandon_fails_what_is_in_flight_in_order() -> None:
    failures: list[Any] = []
    p, link, sink = served(fetch, limit=2, policy="soft")
    p.add_failure_listener(failures.append)
    p.process_events([1, 2])
    p.inject({}, 3, 0)
    calls = link.take()
    p.resume(calls[1], 2)
    assert p.abandon_in_flight(RuntimeError("stop_timeout")) == 2
    assert sink.Events == [2]
    assert [f.event for f in failures] == [1, 3]
    assert p.in_flight() == 0
    p.resume(calls[0], 1)  # too late: ignored
    assert sink.Events == [2]
    assert balanced(p)


def test_a_link_that_resumes_inline_works_and_stays_flat() -> None:
    class InlineLink(FakeLink):
        def offload(self, call: Offload) -> None:
            call.pipeline.resume(call, call.event + 1)

    p = Pipeline("P", config={"async_concurency_limit": 1})
    sink = ListSink()
    p.build([], fetch, fetch, fetch, sink)
    p.Executor = InlineLink()
    assert p.process_events(list(range(2000))) == 2000
    assert sink.Events == [e + 3 for e in range(2000)]
    assert p.is_ready()
    assert balanced(p)


@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(st.integers(0, 50), max_size=30),
    limit=st.integers(1, 6),
    data=st.data(),
)
def test_any_resume_order_gives_the_inline_outputs(
    events: list[int], limit: int, data: st.DataObject
) -> None:
    def keep_odd(context: Context, event: int) -> int | None:
        return event if event % 2 else None

    expected = run_chain([keep_odd, double], events)
    p, link, sink = served(fetch, keep_odd, fetch, limit=limit)
    pending = list(events)
    running: list[Offload] = []
    while pending or running or p.in_flight():
        if pending and p.is_ready():
            pending = pending[p.process_events(pending) :]
        running.extend(link.take())
        assert len(running) <= limit
        assert balanced(p)
        if running:
            call = running.pop(data.draw(st.integers(0, len(running) - 1)))
            result = call.event * 2 if call.index == 2 else call.event
            p.resume(call, result)
    assert sink.Events == expected
    assert balanced(p)
    assert p.is_ready()
