"""The synchronous executor: finite runs, schedules on a virtual clock, routing, errors."""

from __future__ import annotations

from typing import Any

import pumpcore_executors
import pytest

from pumpcore import ConfigError, Pipeline, TriggerSource
from pumpcore.common import InternalSource, IteratorSource, ListSink, RouterSink
from pumpcore.testing import VirtualClock
from pumpcore.trigger import PeriodicTrigger, RunOnceTrigger


class Ticks(TriggerSource):
    def cycle(self) -> None:
        assert self.Pipeline is not None
        self.process(self.Pipeline.time())


def test_periodic_trigger_fires_twelve_times_in_sixty_virtual_seconds() -> None:
    clock = VirtualClock(start=1000.0)
    sink = ListSink()
    p = Pipeline("P")
    p.build(Ticks().on(PeriodicTrigger(5)), sink)
    report = pumpcore_executors.run(p, clock=clock, stop_after=60)
    assert len(sink.Events) == 12
    assert report.statistics["P"].event_out == 12
    assert clock.time() == 1060.0


def test_finite_sources_end_the_run() -> None:
    sink = ListSink()
    p = Pipeline("P")
    p.build(IteratorSource(range(1000)), lambda c, e: e * 2, sink)
    report = pumpcore_executors.run(p, batch_size=7)
    assert sink.Events == [i * 2 for i in range(1000)]
    assert report.errors == {}


class Fanout(RouterSink):
    def process(self, context: dict[str, Any], event: int) -> None:
        self.route(context, event, "Child.InternalSource")


def test_routing_through_a_small_queue_keeps_every_event_in_order() -> None:
    parent, child = Pipeline("Parent"), Pipeline("Child")
    sink = ListSink()
    parent.build(IteratorSource(range(5000)), Fanout())
    child.build(InternalSource(config={"queue_max_size": 10}), sink)
    report = pumpcore_executors.run(parent, child, batch_size=64)
    assert sink.Events == list(range(5000))
    assert report.statistics["Parent"].failed == 0


def test_a_hard_error_stops_only_its_pipeline_and_is_reported() -> None:
    def boom(context: dict[str, Any], event: int) -> int:
        if event == 3:
            raise ValueError("three")
        return event

    bad, good = Pipeline("Bad"), Pipeline("Good")
    bad_sink, good_sink = ListSink(), ListSink()
    bad.build(IteratorSource(range(10)), boom, bad_sink)
    good.build(IteratorSource(range(10)), good_sink)
    report = pumpcore_executors.run(bad, good)
    assert bad_sink.Events == [0, 1, 2]
    assert good_sink.Events == list(range(10))
    assert "boom" in report.errors["Bad"]
    assert "three" in report.errors["Bad"]


class Failing(TriggerSource):
    def cycle(self) -> None:
        raise ConnectionError("upstream down")


def test_a_failing_cycle_is_counted_and_the_soft_policy_goes_on() -> None:
    p = Pipeline("P", error_policy="soft")
    p.build(Failing().on(PeriodicTrigger(1)), ListSink())
    report = pumpcore_executors.run(p, clock=VirtualClock(), stop_after=3)
    assert report.statistics["P"].source_error == 3


def test_run_once_trigger_ends_the_run() -> None:
    sink = ListSink()
    p = Pipeline("P")
    p.build(Ticks().on(RunOnceTrigger()), sink)
    pumpcore_executors.run(p, clock=VirtualClock(start=5.0))
    assert sink.Events == [5.0]


def test_trigger_source_without_trigger_is_a_config_error() -> None:
    p = Pipeline("P")
    p.build(Ticks(), ListSink())
    with pytest.raises(ConfigError, match=r"P.Ticks.*no trigger"):
        pumpcore_executors.run(p)


def test_async_cycle_needs_an_async_executor() -> None:
    class AsyncTicks(TriggerSource):
        async def cycle(self) -> None:
            self.process(1)

    p = Pipeline("P")
    p.build(AsyncTicks().on(RunOnceTrigger()), ListSink())
    with pytest.raises(TypeError, match=r"P.AsyncTicks.*async"):
        pumpcore_executors.run(p)


def test_unknown_executor_is_named() -> None:
    p = Pipeline("P")
    p.build(IteratorSource([]), ListSink())
    with pytest.raises(ConfigError, match="'fibers'"):
        pumpcore_executors.run(p, executor="fibers")  # type: ignore[arg-type]


def test_failures_are_logged_with_component_event_and_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def parse(context: dict[str, Any], event: str) -> int:
        return int(event)

    p = Pipeline("P", error_policy="soft")
    p.build(IteratorSource(["1", "x"] + ["y"] * 20), parse, ListSink())
    with caplog.at_level("WARNING", logger="pumpcore.failures"):
        report = pumpcore_executors.run(p)
    assert report.statistics["P"].warning == 21
    messages = [r.getMessage() for r in caplog.records]
    assert "P.parse dropped an event" in messages[0]
    assert "'x'" in messages[0]
    assert "invalid literal" in messages[0]
    assert len(messages) == 11  # ten failures, then the rest summed up when the run ends
    assert "further failures of P.parse in the next 60 s are summed up" in messages[9]
    assert messages[-1].startswith("11 more failures of P.parse in the last ")
