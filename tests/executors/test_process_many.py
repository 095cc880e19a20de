"""``Source.process_many`` on every executor: a blocking cycle hands events over in chunks (one
trip to the executor's thread each), in order, with their contexts; a pipeline throttled
part-way takes the rest once released; a hard error part-way refuses the rest."""

from __future__ import annotations

from typing import Any

import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName

from pumpcore import Pipeline, PipelineStoppedError, TriggerSource
from pumpcore.common import ListSink
from pumpcore.trigger import PeriodicTrigger, RunOnceTrigger

from .conftest import run_kwargs

pytestmark = pytest.mark.timeout(30)

N = 5000


class Chunks(TriggerSource):
    """Emits 0..N-1 in chunks of 1000, each event with a context naming its chunk."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: Exception | None = None

    def cycle(self) -> None:
        for start in range(0, N, 1000):
            events = list(range(start, start + 1000))
            try:
                self.process_many(events, [{"chunk": start} for _ in events])
            except PipelineStoppedError as exc:
                self.refused = exc
                return


def test_events_arrive_in_order_with_their_contexts_across_throttling(
    executor: ExecutorName,
) -> None:
    sink = ListSink()
    p = Pipeline("P")
    throttled = []

    def throttle_now_and_then(context: Any, event: int) -> int:
        assert context["chunk"] == event // 1000 * 1000
        if event % 700 == 699:
            p.throttle("test", True)  # the rest of the chunk waits for the release
            throttled.append(event)
        return event

    def release(context: Any, event: Any) -> None:
        p.throttle("test", False)
        if len(sink.Events) == N:
            handle.stop()

    p.build(Chunks().on(RunOnceTrigger()), throttle_now_and_then, sink)
    q = Pipeline("Q")
    q.build(Ticker().on(PeriodicTrigger(0.005)), release, ListSink())
    handle = pumpcore_executors.RunHandle()
    report = pumpcore_executors.run(
        p, q, executor=executor, stop_after=10, handle=handle, **run_kwargs(executor)
    )
    assert report.errors == {}
    assert sink.Events == list(range(N))
    assert len(throttled) == N // 700


class Ticker(TriggerSource):
    def cycle(self) -> None:
        self.process("tick")


def test_a_hard_error_part_way_refuses_the_rest(executor: ExecutorName) -> None:
    sink = ListSink()
    source = Chunks()

    def fail_at_1500(context: Any, event: int) -> int:
        if event == 1500:
            raise ValueError("bad event")
        return event

    p = Pipeline("P")  # the hard policy
    p.build(source.on(RunOnceTrigger()), fail_at_1500, sink)
    report = pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))
    assert "bad event" in report.errors["P"]
    assert sink.Events == list(range(1500))
    assert report.statistics["P"].event_in == 1501
    assert isinstance(source.refused, PipelineStoppedError)


def test_without_an_executor_events_go_straight_through() -> None:
    sink = ListSink()
    source = Chunks()
    p = Pipeline("P")
    p.build(source, sink)
    source.cycle()
    assert sink.Events == list(range(N))
