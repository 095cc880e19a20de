"""``serving()`` inside a host's own loop (asyncio or trio): put_async, backpressure, errors,
recovery, stop on leaving the block or on cancellation."""

from __future__ import annotations

from typing import Any

import anyio
import pumpcore_executors
import pytest

from pumpcore import Pipeline, PipelineStoppedError, Processor
from pumpcore.common import InternalSource, IteratorSource, ListSink, RouterSink
from pumpcore.lowlevel import NO_ORIGIN, Held, current_origin
from pumpcore.testing import VirtualClock
from pumpcore.trigger import PeriodicTrigger

from .conftest import BLOCKING_THRESHOLD
from .test_run import Ticks

pytestmark = pytest.mark.timeout(30)


class SlowSink(ListSink):
    """Takes events only while ``open`` (the test throttles by hand)."""


def run_on(backend: str, fn: Any) -> None:
    anyio.run(fn, backend=backend)


def test_put_async_waits_while_throttled_and_nothing_is_lost(async_backend: str) -> None:
    sink = ListSink()
    p = Pipeline("P")
    source = InternalSource(config={"queue_max_size": 8})
    p.build(source, sink)
    peak = [0]

    def watch(context: dict[str, Any], event: int) -> int:
        peak[0] = max(peak[0], len(source))
        return event

    p.insert_before(sink.Id, watch)

    async def main() -> None:
        async with pumpcore_executors.serving(p, blocking_threshold=BLOCKING_THRESHOLD) as pump:
            for i in range(2000):
                await source.put_async({}, i)
            assert pump.statistics()["P"].event_in <= 2000
        assert pump.report is not None
        assert pump.report.statistics["P"].event_out == 2000

    run_on(async_backend, main)
    assert sink.Events == list(range(2000))
    assert peak[0] <= 8


def test_put_async_without_an_executor_is_a_clear_error() -> None:
    p = Pipeline("P")
    source = InternalSource()
    p.build(source, ListSink())

    async def main() -> None:
        with pytest.raises(RuntimeError, match=r"no async executor is serving pipeline 'P'"):
            await source.put_async({}, 1)

    anyio.run(main)


def test_router_backpressure_and_two_pipelines(async_backend: str) -> None:
    class Route(RouterSink):
        def process(self, context: dict[str, Any], event: int) -> None:
            self.route(context, event, "Child.InternalSource")

    parent, child = Pipeline("Parent"), Pipeline("Child")
    sink = ListSink()
    parent.build(IteratorSource(range(5000)), Route())
    child.build(InternalSource(config={"queue_max_size": 4}), sink)

    async def main() -> None:
        async with pumpcore_executors.serving(parent, child, blocking_threshold=BLOCKING_THRESHOLD):
            with anyio.fail_after(10):
                while len(sink.Events) < 5000:
                    await anyio.sleep(0.01)

    run_on(async_backend, main)
    assert sink.Events == list(range(5000))


def test_hard_error_stops_one_pipeline_and_recover_resumes(async_backend: str) -> None:
    failed_once = [False]

    def flaky(context: dict[str, Any], event: int) -> int:
        if event == 5 and not failed_once[0]:
            failed_once[0] = True
            raise ValueError("five")
        return event

    bad, good = Pipeline("Bad"), Pipeline("Good")
    bad_in, good_in = InternalSource(), InternalSource()
    bad_sink, good_sink = ListSink(), ListSink()
    bad.build(bad_in, flaky, bad_sink)
    good.build(good_in, good_sink)

    async def main() -> None:
        async with pumpcore_executors.serving(bad, good, blocking_threshold=BLOCKING_THRESHOLD):
            for i in range(10):
                bad_in.put({}, i)
                good_in.put({}, i)
            with anyio.fail_after(5):
                while len(good_sink.Events) < 10:
                    await anyio.sleep(0.01)
            assert bad.is_error()
            assert bad_sink.Events == [0, 1, 2, 3, 4]
            bad.recover()
            with anyio.fail_after(5):
                while len(bad_sink.Events) < 9:
                    await anyio.sleep(0.01)

    run_on(async_backend, main)
    assert bad_sink.Events == [0, 1, 2, 3, 4, 6, 7, 8, 9]
    assert good_sink.Events == list(range(10))


def test_cancellation_stops_drains_and_flushes(async_backend: str) -> None:
    class Holding(Processor):
        """Holds every event until the pipeline stops (an aggregate)."""

        def __init__(self) -> None:
            super().__init__()
            self.held: list[Any] = []
            self.origin = NO_ORIGIN

        def process(self, context: dict[str, Any], event: Any) -> None:
            self.held.append(event)
            self.origin = self.origin.absorb(current_origin())

        def on_stop(self, now: float) -> list[Held]:
            held, self.held = self.held, []
            return [Held({}, held, self.origin)]

    class FlushedSink(ListSink):
        flushed = False

        def flush(self) -> None:
            self.flushed = True

    sink = FlushedSink()
    p = Pipeline("P")
    source = InternalSource()
    p.build(source, Holding(), sink)

    async def main() -> None:
        with anyio.move_on_after(0.3):
            async with pumpcore_executors.serving(p, blocking_threshold=BLOCKING_THRESHOLD):
                for i in range(100):
                    await source.put_async({}, i)
                await anyio.sleep_forever()

    run_on(async_backend, main)
    assert sink.Events == [list(range(100))]
    assert sink.flushed
    assert p.is_stopped()
    assert p.Executor is None

    async def late() -> None:
        with pytest.raises(PipelineStoppedError, match="'P' is stopped"):
            await source.put_async({}, 1)  # stopped says more than "not served"

    run_on(async_backend, late)


def test_virtual_clock_jumps_while_the_host_waits(async_backend: str) -> None:
    clock = VirtualClock(start=0.0)
    sink = ListSink()
    p = Pipeline("P")
    p.build(Ticks().on(PeriodicTrigger(60)), sink)

    async def main() -> None:
        async with pumpcore_executors.serving(p, clock=clock):
            with anyio.fail_after(5):
                while len(sink.Events) < 10:
                    await anyio.sleep(0.001)

    run_on(async_backend, main)
    assert sink.Events[:10] == [60.0 * i for i in range(10)]


def test_put_async_on_a_stopped_pipeline_raises(async_backend: str) -> None:
    p = Pipeline("P")
    source = InternalSource()
    p.build(source, ListSink())

    async def main() -> None:
        async with pumpcore_executors.serving(p):
            p.stop()
            with pytest.raises(PipelineStoppedError):
                await source.put_async({}, 1)

    run_on(async_backend, main)
