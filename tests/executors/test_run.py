"""``run()`` on every executor: schedules, cycles, throttling, errors, signals, bounded stop."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName

from pumpcore import Pipeline, TriggerSource
from pumpcore.common import InternalSource, IteratorSource, ListSink, RouterSink
from pumpcore.testing import VirtualClock
from pumpcore.trigger import PeriodicTrigger, RunOnceTrigger

from .conftest import executors, run_kwargs

pytestmark = pytest.mark.timeout(30)


class Ticks(TriggerSource):
    def cycle(self) -> None:
        assert self.Pipeline is not None
        self.process(self.Pipeline.time())


class AsyncTicks(TriggerSource):
    async def cycle(self) -> None:
        assert self.Pipeline is not None
        self.process(self.Pipeline.time())


class SlowTicks(TriggerSource):
    """A blocking cycle: fine in a worker thread, a stall on an event loop's thread."""

    def cycle(self) -> None:
        time.sleep(0.8)
        self.process("slow")


def test_periodic_trigger_on_a_virtual_clock(executor: ExecutorName) -> None:
    clock = VirtualClock(start=1000.0)
    sink = ListSink()
    p = Pipeline("P")
    p.build(Ticks().on(PeriodicTrigger(5)), sink)
    started = time.monotonic()
    report = pumpcore_executors.run(
        p, executor=executor, clock=clock, stop_after=3600, **run_kwargs(executor)
    )
    assert sink.Events == [1000.0 + 5 * i for i in range(720)]
    assert report.statistics["P"].event_out == 720
    assert clock.time() == 4600.0
    assert time.monotonic() - started < 60  # an hour of schedule (3,600 s), never really slept


def test_periodic_trigger_on_the_system_clock(executor: ExecutorName) -> None:
    sink = ListSink()
    p = Pipeline("P")
    p.build(Ticks().on(PeriodicTrigger(0.05)), sink)
    started = time.monotonic()
    pumpcore_executors.run(p, executor=executor, stop_after=0.5, **run_kwargs(executor))
    elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 3
    assert 7 <= len(sink.Events) <= 11
    assert sink.Events == sorted(sink.Events)


@pytest.mark.parametrize("executor_name", executors("asyncio", "trio"))
def test_async_cycle_runs_on_async_executors(executor_name: ExecutorName) -> None:
    sink = ListSink()
    p = Pipeline("P")
    p.build(AsyncTicks().on(PeriodicTrigger(10)), sink)
    pumpcore_executors.run(
        p, executor=executor_name, clock=VirtualClock(), stop_after=60, blocking_threshold=0.5
    )
    assert sink.Events == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]


@pytest.mark.parametrize("executor_name", ["sync", "threads"])
def test_async_cycle_is_a_type_error_on_blocking_executors(executor_name: ExecutorName) -> None:
    p = Pipeline("P")
    p.build(AsyncTicks().on(RunOnceTrigger()), ListSink())
    with pytest.raises(TypeError, match=r"P\.AsyncTicks: cycle\(\) is async"):
        pumpcore_executors.run(p, executor=executor_name)


def test_blocking_cycle_runs_in_a_worker_thread(executor: ExecutorName) -> None:
    # The watchdog (0.5 s) would fail an async run if the 0.8 s sleep ran on the loop's thread.
    sink, other = ListSink(), ListSink()
    p, q = Pipeline("P"), Pipeline("Q")
    p.build(SlowTicks().on(RunOnceTrigger()), sink)
    q.build(IteratorSource(range(100)), other)
    pumpcore_executors.run(p, q, executor=executor, **run_kwargs(executor))
    assert sink.Events == ["slow"]
    assert other.Events == list(range(100))


@pytest.mark.parametrize("backend", executors("asyncio", "trio"))
def test_the_watchdog_fails_a_blocking_call_on_the_loop(backend: ExecutorName) -> None:
    class BlockingAsync(TriggerSource):
        async def cycle(self) -> None:
            time.sleep(0.8)  # the mistake the watchdog exists for

    p = Pipeline("P")
    p.build(BlockingAsync().on(RunOnceTrigger()), ListSink())
    with pytest.raises(pumpcore_executors.LoopBlockedError, match=r"blocked[\s\S]*time.sleep"):
        pumpcore_executors.run(p, executor=backend, blocking_threshold=0.3)


def test_several_pipelines_and_a_hard_error_stopping_only_one(executor: ExecutorName) -> None:
    def boom(context: dict[str, Any], event: int) -> int:
        if event == 3:
            raise ValueError("three")
        return event

    bad, good = Pipeline("Bad"), Pipeline("Good")
    bad_sink, good_sink = ListSink(), ListSink()
    bad.build(IteratorSource(range(10)), boom, bad_sink)
    good.build(IteratorSource(range(1000)), good_sink)
    report = pumpcore_executors.run(
        bad, good, executor=executor, batch_size=4, **run_kwargs(executor)
    )
    assert bad_sink.Events == [0, 1, 2]
    assert good_sink.Events == list(range(1000))
    assert "three" in report.errors["Bad"]


def test_a_throttled_pipeline_takes_nothing_until_released(executor: ExecutorName) -> None:
    clock = VirtualClock()
    sink = ListSink()
    p = Pipeline("P")
    p.build(IteratorSource(range(100)), sink)
    released_at = 30.0

    class Release(TriggerSource):
        def cycle(self) -> None:
            assert self.Pipeline is not None
            if self.Pipeline.time() >= released_at:
                p.throttle("test", False)

    q = Pipeline("Q")
    q.build(Release().on(PeriodicTrigger(10)), ListSink())
    p.throttle("test", True)
    report = pumpcore_executors.run(
        p, q, executor=executor, clock=clock, stop_after=25, **run_kwargs(executor)
    )
    assert report.statistics["P"].event_in == 0
    assert sink.Events == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_run_cleanly_and_handlers_are_restored(
    executor: ExecutorName, sig: int
) -> None:
    previous = signal.getsignal(sig)
    sink = ListSink()
    p = Pipeline("P")
    p.build(Ticks().on(PeriodicTrigger(0.02)), sink)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), sig))
    timer.start()
    started = time.monotonic()
    try:
        report = pumpcore_executors.run(p, executor=executor)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 3
    assert report.statistics["P"].event_out == len(sink.Events) > 3
    assert signal.getsignal(sig) is previous


@pytest.mark.parametrize("executor_name", executors("threads", "asyncio", "trio"))
def test_stop_is_bounded_by_stop_timeout(executor_name: ExecutorName) -> None:
    gate = threading.Event()

    class Stuck(TriggerSource):
        def cycle(self) -> None:
            gate.wait(10)  # a cycle that does not return when asked to stop

    p = Pipeline("P")
    p.build(Stuck().on(RunOnceTrigger()), ListSink())
    started = time.monotonic()
    try:
        pumpcore_executors.run(
            p, executor=executor_name, stop_after=0.1, stop_timeout=0.5, handle_signals=False
        )
    finally:
        gate.set()
    assert time.monotonic() - started < 3


def test_unknown_executor_is_a_config_error() -> None:
    from pumpcore import ConfigError

    p = Pipeline("P")
    p.build(IteratorSource([]), ListSink())
    with pytest.raises(ConfigError, match="'fibers'"):
        pumpcore_executors.run(p, executor="fibers")  # type: ignore[arg-type]


class _ToChild(RouterSink):
    def process(self, context: dict[str, Any], event: int) -> None:
        self.route(context, event, "Child.InternalSource")


@pytest.mark.timeout(30)
def test_a_feeder_throttled_for_good_by_a_stopped_child_ends_the_run(
    executor: ExecutorName,
) -> None:
    # The child fails hard on its first event; its full queue throttles the parent for good.
    # No event can ever move again, so every executor ends the run (none waits forever).
    def boom(context: dict[str, Any], event: int) -> int:
        raise ValueError(event)

    parent, child = Pipeline("Parent"), Pipeline("Child")
    parent.build(IteratorSource(range(100)), _ToChild())
    child.build(InternalSource(config={"queue_max_size": 4}), boom, ListSink())
    report = pumpcore_executors.run(parent, child, executor=executor, **run_kwargs(executor))
    assert "ValueError" in report.errors["Child"]
    assert report.statistics["Parent"].event_in < 100
