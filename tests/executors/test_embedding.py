"""Embedding and stopping, on every executor: a ``RunHandle`` another thread stops, runs fed only
by other threads, nothing read and then dropped uncounted at stop, ``put``/``put_async`` after a
stop, ``put_async(wait=True)``, and errors that leave ``run``/``serving`` as they happened."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from typing import Any

import anyio
import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName, RunHandle

from pumpcore import (
    AsyncSource,
    BlockingSource,
    Pipeline,
    PipelineStoppedError,
    ProcessingError,
    QueueFullError,
    Received,
    TriggerSource,
)
from pumpcore.common import InternalSource, IteratorSource, ListSink, RouterSink
from pumpcore.trigger import PeriodicTrigger, RunOnceTrigger

from .conftest import BLOCKING_THRESHOLD, run_kwargs
from .test_acks import DurableSink, RecordingSource
from .test_run import Ticks

pytestmark = pytest.mark.timeout(30)


class Endless(BlockingSource):
    """As fast as it can be read: every read returns as many events as asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.read_count = 0

    def read(self, max_items: int) -> Sequence[Received]:
        start, self.read_count = self.read_count, self.read_count + max_items
        return [Received(i, position=i) for i in range(start, self.read_count)]


def stop_later(handle: RunHandle, after: float) -> threading.Timer:
    timer = threading.Timer(after, handle.stop)
    timer.start()
    return timer


# ---------------------------------------------------------------- 1. RunHandle


def test_a_handle_stops_the_run_from_another_thread(executor: ExecutorName) -> None:
    sink = ListSink()
    p = Pipeline("P")
    p.build(Ticks().on(PeriodicTrigger(0.02)), sink)
    handle = RunHandle()
    timer = stop_later(handle, 0.3)
    started = time.monotonic()
    try:
        report = pumpcore_executors.run(p, executor=executor, handle=handle, **run_kwargs(executor))
    finally:
        timer.cancel()
    assert 0.25 <= time.monotonic() - started < 3
    assert report.statistics["P"].event_out == len(sink.Events) > 3
    assert p.is_stopped()


def test_a_handle_wakes_a_run_that_sleeps_until_far_away(executor: ExecutorName) -> None:
    # Nothing is due for an hour: the stop must wake the executor, not wait for its next wake.
    p = Pipeline("P")
    p.build(Ticks().on(PeriodicTrigger(3600)), ListSink())
    handle = RunHandle()
    timer = stop_later(handle, 0.2)
    started = time.monotonic()
    try:
        pumpcore_executors.run(p, executor=executor, handle=handle, **run_kwargs(executor))
    finally:
        timer.cancel()
    assert time.monotonic() - started < 2


def test_a_handle_stopped_before_the_run_stops_it_at_once(executor: ExecutorName) -> None:
    source = Endless()
    p = Pipeline("P")
    p.build(source, ListSink())
    handle = RunHandle()
    handle.stop()
    assert handle.stop_requested
    report = pumpcore_executors.run(p, executor=executor, handle=handle, **run_kwargs(executor))
    assert report.statistics["P"].event_in == source.read_count  # at most the reads under way


def test_a_handle_serves_one_run_at_a_time(executor: ExecutorName) -> None:
    handle = RunHandle()
    inner: list[BaseException] = []

    class Nested(TriggerSource):
        def cycle(self) -> None:
            q = Pipeline("Q")
            q.build(IteratorSource([1]), ListSink())
            try:
                pumpcore_executors.run(q, handle=handle, handle_signals=False)
            except RuntimeError as exc:
                inner.append(exc)

    p = Pipeline("P")
    p.build(Nested().on(RunOnceTrigger()), ListSink())
    pumpcore_executors.run(p, executor=executor, handle=handle, **run_kwargs(executor))
    assert len(inner) == 1
    assert "already drives a run" in str(inner[0])


# ---------------------------------------------------------------- 2. put after stop


def test_put_after_the_run_stopped_raises(executor: ExecutorName) -> None:
    source, sink = InternalSource(), ListSink()
    p = Pipeline("P")
    p.build([source, IteratorSource([1, 2])], sink)
    pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))
    with pytest.raises(PipelineStoppedError, match="'P' is stopped"):
        source.put({}, 3)
    assert len(source) == 0
    assert sink.Events == [1, 2]


# ---------------------------------------------------------------- 3. fed from other threads


def feed(source: InternalSource, events: range, done: threading.Event) -> None:
    for event in events:
        while True:
            try:
                source.put({}, event)
                break
            except QueueFullError:
                time.sleep(0.001)
    done.set()


@pytest.mark.timeout(60)
def test_a_run_fed_only_from_other_threads_runs_until_stopped(executor: ExecutorName) -> None:
    source, sink = InternalSource(config={"queue_max_size": 64}), ListSink()
    p = Pipeline("P")
    p.build(source, sink)
    handle = RunHandle()
    fed = [threading.Event(), threading.Event()]
    feeders = [
        threading.Thread(target=feed, args=(source, range(2000), fed[0])),
        threading.Thread(target=feed, args=(source, range(2000, 4000), fed[1])),
    ]

    def conductor() -> None:
        time.sleep(0.3)  # the run idles first: it must not end for want of events
        for t in feeders:
            t.start()
        for t in feeders:
            t.join()
        deadline = time.monotonic() + 20
        while len(sink.Events) < 4000 and time.monotonic() < deadline:
            time.sleep(0.01)
        handle.stop()

    thread = threading.Thread(target=conductor)
    thread.start()
    try:
        report = pumpcore_executors.run(
            p, executor=executor, handle=handle, until_stopped=True, **run_kwargs(executor)
        )
    finally:
        handle.stop()
        thread.join()
    assert sorted(sink.Events) == list(range(4000))  # none lost, none twice
    for lo in (0, 2000):  # order per feeder kept
        assert [e for e in sink.Events if lo <= e < lo + 2000] == list(range(lo, lo + 2000))
    assert report.statistics["P"].event_in == 4000
    with pytest.raises(PipelineStoppedError):
        source.put({}, -1)


# ---------------------------------------------------------------- 4. nothing read is lost


def test_events_read_before_stop_are_processed_not_dropped(executor: ExecutorName) -> None:
    # The repro: a fast source and a short run. Every event read is processed in the drain.
    source, sink = Endless(), DurableSink()
    p = Pipeline("P")
    p.build(source, sink)
    report = pumpcore_executors.run(p, executor=executor, stop_after=0.05, **run_kwargs(executor))
    assert source.read_count > 0
    assert report.statistics["P"].event_in == source.read_count
    assert report.unprocessed == {}
    assert sink.durable == list(range(source.read_count))
    assert source.ledger.pending() == 0  # every position went through a commit


def test_events_read_that_cannot_be_drained_are_reported(executor: ExecutorName) -> None:
    def boom(context: dict[str, Any], event: int) -> int:
        if event == 10:
            raise ValueError("ten")
        return event

    source, sink = RecordingSource(1000, chunk=100), DurableSink()
    p = Pipeline("P")
    p.build(source, boom, sink)
    report = pumpcore_executors.run(p, executor=executor, batch_size=4, **run_kwargs(executor))
    stats = report.statistics["P"]
    assert stats.error == 1
    assert report.unprocessed == {"P": source.next - stats.event_in}
    assert report.unprocessed["P"] > 0
    assert all(position < 10 for position in source.acked)


class _ToChild(RouterSink):
    def process(self, context: dict[str, Any], event: int) -> None:
        self.route(context, event, "Child.InternalSource")


def test_events_left_in_a_queue_between_pipelines_are_reported(executor: ExecutorName) -> None:
    def boom(context: dict[str, Any], event: int) -> int:
        raise ValueError(event)

    queue = InternalSource(config={"queue_max_size": 4})
    parent, child = Pipeline("Parent"), Pipeline("Child")
    parent.build(IteratorSource(range(100)), _ToChild())
    child.build(queue, boom, ListSink())
    report = pumpcore_executors.run(parent, child, executor=executor, **run_kwargs(executor))
    assert len(queue) > 0
    assert report.unprocessed == {"Child": len(queue)}


# ---------------------------------------------------------------- 5. serving()


def test_serving_reports_what_was_queued_before_a_hard_error(async_backend: str) -> None:
    def boom(context: dict[str, Any], event: int) -> int:
        if event == 2:
            raise ValueError("two")
        return event

    source, sink = InternalSource(), ListSink()
    p = Pipeline("P")
    p.build(source, boom, sink)

    async def main() -> None:
        async with pumpcore_executors.serving(p, blocking_threshold=BLOCKING_THRESHOLD) as pump:
            for i in range(10):
                source.put({}, i)
            with anyio.fail_after(5):
                while not p.is_error():
                    await anyio.sleep(0.01)
        assert pump.report is not None
        assert pump.report.unprocessed == {"P": 7}
        assert pump.report.statistics["P"].event_in == 3

    anyio.run(main, backend=async_backend)
    assert sink.Events == [0, 1]


def test_put_async_after_a_stop_raises_instead_of_waiting(async_backend: str) -> None:
    def boom(context: dict[str, Any], event: int) -> int:
        raise ValueError("hard")

    source = InternalSource(config={"queue_max_size": 4})
    p = Pipeline("P")
    p.build(source, boom, ListSink())
    outcome: list[BaseException] = []

    async def waiter() -> None:
        try:
            await source.put_async({}, "waits")  # the pipeline is in error: not ready
        except BaseException as exc:
            outcome.append(exc)
            raise

    async def main() -> None:
        async with pumpcore_executors.serving(p) as pump:
            source.put({}, 1)
            with anyio.fail_after(5):
                while not p.is_error():
                    await anyio.sleep(0.01)
            async with anyio.create_task_group() as tg:
                tg.start_soon(_swallow, waiter)
                await anyio.sleep(0.05)
                pump.stop()
                with anyio.fail_after(5):
                    await pump.wait_stopped()
            with pytest.raises(PipelineStoppedError):
                await source.put_async({}, "late")
            with pytest.raises(PipelineStoppedError):
                source.put({}, "late")

    anyio.run(main, backend=async_backend)
    assert len(outcome) == 1
    assert isinstance(outcome[0], PipelineStoppedError)


async def _swallow(fn: Any) -> None:
    with contextlib.suppress(PipelineStoppedError):
        await fn()


def test_put_async_wait_returns_once_the_event_is_committed(async_backend: str) -> None:
    source, sink = InternalSource(), DurableSink()
    p = Pipeline("P")
    p.build(source, lambda c, e: None if e == -1 else e, sink)

    async def main() -> None:
        async with pumpcore_executors.serving(p, blocking_threshold=BLOCKING_THRESHOLD):
            with anyio.fail_after(5):
                await source.put_async({}, 1, wait=True)
                assert sink.durable == [1]
                await source.put_async({}, -1, wait=True)  # dropped on purpose: done
                async with anyio.create_task_group() as tg:
                    for event in (2, 3, 4):
                        tg.start_soon(lambda e: source.put_async({}, e, wait=True), event)
                assert sorted(sink.durable) == [1, 2, 3, 4]

    anyio.run(main, backend=async_backend)


def test_put_async_wait_raises_when_the_event_is_not_committed(async_backend: str) -> None:
    def boom(context: dict[str, Any], event: str) -> str:
        if event == "bad":
            raise ValueError("bad")
        return event

    source, sink = InternalSource(), DurableSink(fail_on=frozenset({1}))
    p = Pipeline("P", error_policy="soft")
    p.build(source, sink)
    q_source = InternalSource()
    q = Pipeline("Q")
    q.build(q_source, boom, ListSink())

    async def main() -> None:
        async with pumpcore_executors.serving(p, q):
            with anyio.fail_after(5):
                with pytest.raises(ProcessingError, match="not committed"):
                    await source.put_async({}, "lost in a failed flush", wait=True)
                with pytest.raises(ProcessingError, match="not committed"):
                    await q_source.put_async({}, "bad", wait=True)

    anyio.run(main, backend=async_backend)
    assert sink.durable == []


# ---------------------------------------------------------------- 6. errors as they happened


class RefusingSource(BlockingSource):
    def open(self) -> None:
        raise ConnectionRefusedError("nobody listens")


class AsyncRefusingSource(AsyncSource):
    async def open(self) -> None:
        raise ConnectionRefusedError("nobody listens either")


@pytest.mark.parametrize("source_class", [RefusingSource, AsyncRefusingSource])
def test_a_source_that_fails_to_open_ends_the_run_with_its_exception(
    executor: ExecutorName, source_class: type[BlockingSource | AsyncSource]
) -> None:
    sink = DurableSink()
    p = Pipeline("P")
    p.build(source_class(), sink)
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError, match="nobody listens") as caught:
        pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))
    assert type(caught.value) is ConnectionRefusedError
    assert sink.closed  # what was opened is closed
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("where", ["processor", "cycle", "flush"])
@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
def test_a_base_exception_leaves_run_as_itself(
    executor: ExecutorName, where: str, error: type[BaseException]
) -> None:
    def processor(context: dict[str, Any], event: int) -> int:
        if where == "processor" and event == 3:
            raise error("from the processor")
        return event

    class Cycling(TriggerSource):
        def cycle(self) -> None:
            if where == "cycle":
                raise error("from the cycle")
            for i in range(10):
                self.process(i)

    class FailingFlush(DurableSink):
        def flush(self) -> None:
            if where == "flush":
                raise error("from the flush")

    sink = FailingFlush()
    p = Pipeline("P")
    p.build(Cycling().on(PeriodicTrigger(0.01)), processor, sink)
    started = time.monotonic()
    with pytest.raises(error, match=f"from the {where}") as caught:
        pumpcore_executors.run(p, executor=executor, stop_after=5, **run_kwargs(executor))
    assert type(caught.value) is error
    assert time.monotonic() - started < 4  # not stop_timeout (10 s) waiting for an answer
    assert sink.closed


def test_serving_lets_the_hosts_error_out_as_itself(async_backend: str) -> None:
    p = Pipeline("P")
    p.build(InternalSource(), ListSink())

    async def main() -> None:
        async with pumpcore_executors.serving(p):
            raise LookupError("the host's own")

    with pytest.raises(LookupError, match="the host's own") as caught:
        anyio.run(main, backend=async_backend)
    assert type(caught.value) is LookupError
    assert p.is_stopped()


@pytest.mark.parametrize("source_class", [RefusingSource, AsyncRefusingSource])
def test_serving_a_source_that_fails_to_open_raises_its_exception(
    async_backend: str, source_class: type[BlockingSource | AsyncSource]
) -> None:
    p = Pipeline("P")
    p.build(source_class(), ListSink())

    async def main() -> None:
        async with pumpcore_executors.serving(p):
            await anyio.sleep_forever()

    with pytest.raises(ConnectionRefusedError) as caught:
        anyio.run(main, backend=async_backend)
    assert type(caught.value) is ConnectionRefusedError
