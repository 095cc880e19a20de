"""The async executor, written on anyio: the same code runs under asyncio and under trio.

One task (``_AsyncRunner.drive``) owns every pipeline: it steps the ``Driver`` and does what it
is told. Everything that may block runs in a worker thread (``anyio.to_thread.run_sync``):
blocking ``cycle``s, ``BlockingSource`` reads and acknowledgements, ``BlockingSink`` flushes,
blocking processors; ``async def`` cycles, ``AsyncSource`` and ``AsyncSink`` methods and ``async
def`` processors run as tasks on the loop. An offloaded processor call (``pumpcore/_link.py``
rule 4) is one task; its outcome resumes the pipeline from that task, on the loop thread.

The core is not thread-safe, so every call into it happens on the loop thread: an event a
blocking cycle sends from its worker thread (``self.process(event)``) travels to the loop with
``anyio.from_thread.run`` and waits there while its pipeline is throttled — backpressure for
blocking sources. While sinks are being flushed (a commit), nothing else reaches a sink: the
driver task awaits the flush instead of pumping, and events that async cycles or application
code send meanwhile are deferred until the flush is over.

Time: on a real clock the driver sleeps until ``Driver.next_wake()`` or until something wakes
it (a put, a readiness change, a finished cycle). On a virtual clock it never sleeps: once every
other task is blocked and no cycle or read is running, it jumps the clock to the next wake.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from anyio.abc import TaskGroup

from pumpcore import (
    Clock,
    Context,
    Pipeline,
    PipelineStatistics,
    PipelineStoppedError,
    Pump,
    TriggerSource,
)
from pumpcore.lowlevel import (
    AsyncSink,
    AsyncSource,
    BlockingSink,
    BlockingSource,
    Commit,
    Driver,
    Offload,
    flush_is_noop,
    has_serve,
    is_async_cycle,
)
from pumpcore.trigger import Trigger

from ._blocking import (
    abandon_in_flight,
    abandoned,
    report_cycle_failure,
    report_read_failure,
)
from ._clock import SystemClock
from ._failures import FailureLog
from ._report import RunReport, report_of
from ._signals import stop_signals
from ._watchdog import LoopWatchdog

log = logging.getLogger("pumpcore.executors")

# How often the driver looks at a stop flag set by a signal handler while it waits: a handler
# may not touch the loop, so it only sets the flag.
_SIGNAL_POLL = 0.1

# Worker threads blocking processors may use at once, apart from those of reads and cycles (so
# that neither can starve the other); anyio's default limiter allows as many.
STEP_THREADS = 40


class _AsyncRunner:
    def __init__(
        self,
        pipelines: Sequence[Pipeline],
        *,
        clock: Clock,
        stop_after: float | None,
        stop_timeout: float,
        batch_size: int,
        serving: bool,
        poll_signals: bool = False,
    ) -> None:
        self.driver = Driver(pipelines, batch_size=batch_size)
        self.clock = clock
        self.stop_after = stop_after
        self.stop_timeout = stop_timeout
        self.serving = serving
        self.poll_signals = poll_signals
        self.stop_requested = False
        self.report: RunReport | None = None
        self._kicked = False
        self._wakeup: anyio.Event | None = None
        self._changed: anyio.Event | None = None
        self._in_flight = 0
        self._flushing = False
        # What arrived during a flush and must wait for its end (nothing reaches a sink meanwhile).
        self._deferred: deque[Callable[[], None]] = deque()
        self._step_threads: anyio.CapacityLimiter | None = None
        self._closed = False  # no offloaded step starts any more (the workers are gone)
        self._loop_thread = 0
        self._workers: TaskGroup | None = None
        self._servers: TaskGroup | None = None
        self._serving: list[tuple[anyio.CancelScope, anyio.Event]] = []
        self._opened: list[Any] = []
        self.started = anyio.Event()
        self.done = anyio.Event()

    # ------------------------------------------------------------ the ExecutorLink protocol

    def notify(self) -> None:
        """Wake the driver task (called on the loop thread)."""
        self._kicked = True
        if self._wakeup is not None:
            self._wakeup.set()

    def changed(self) -> Awaitable[None]:
        """Completes at the next change: events taken, readiness, stop."""
        if self._changed is None:
            self._changed = anyio.Event()
        return self._changed.wait()

    def process(self, pipeline: Pipeline, event: Any, context: Context | None) -> None:
        """Process on the loop thread; from a worker thread, travel there and wait for it."""
        if threading.get_ident() == self._loop_thread:
            if self._flushing:
                self._deferred.append(
                    functools.partial(_process_deferred, pipeline, event, context)
                )
            else:
                pipeline.process(event, context)
            self.notify()
            return
        anyio.from_thread.run(self._process_from_worker, pipeline, event, context)

    def offload(self, call: Offload) -> None:
        """Run an async or blocking step's call as a task (rule 4 of pumpcore/_link.py)."""
        if self._closed or self._workers is None:
            call.origin.fail()
            call.pipeline.resume_failed(call, abandoned(call))
            return
        self._workers.start_soon(self._run_step, call)

    async def _run_step(self, call: Offload) -> None:
        try:
            if call.is_async:
                result = await call.function(call.context, call.event)
            else:
                if self._step_threads is None:
                    self._step_threads = anyio.CapacityLimiter(STEP_THREADS)
                result = await anyio.to_thread.run_sync(
                    call.function,
                    call.context,
                    call.event,
                    limiter=self._step_threads,
                    abandon_on_cancel=True,
                )
        except anyio.get_cancelled_exc_class():
            # The run is torn down (stop_timeout passed, or the host cancelled serving()): the
            # event fails through the policy and no position may be acknowledged.
            call.origin.fail()
            call.pipeline.resume_failed(call, abandoned(call))
            raise
        except Exception as exc:
            outcome: Callable[[], None] = functools.partial(call.pipeline.resume_failed, call, exc)
        else:
            outcome = functools.partial(call.pipeline.resume, call, result)
        if self._flushing:  # rare: commits wait until nothing is in flight
            self._deferred.append(outcome)
        else:
            outcome()
        self.notify()

    async def _process_from_worker(
        self, pipeline: Pipeline, event: Any, context: Context | None
    ) -> None:
        while self._flushing or not (
            pipeline.is_ready() or pipeline.is_error() or pipeline.is_stopped()
        ):
            await self.changed()  # a stopped pipeline ends the wait: process() then raises
        pipeline.process(event, context)
        self.notify()

    def _signal_change(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def _on_ready(self, ready: bool) -> None:
        self.notify()
        self._signal_change()

    def request_stop(self) -> None:
        """Stop taking input; the driver task then runs the stop sequence."""
        self.stop_requested = True
        if threading.get_ident() == self._loop_thread:
            self.notify()

    # ------------------------------------------------------------ the driver task

    async def drive(self) -> None:
        """Open, run until finished or stopped, run the stop sequence; always shuts down."""
        self._loop_thread = threading.get_ident()
        for pipeline in self.driver.pipelines:
            pipeline.set_timer(time.perf_counter)
            pipeline.Executor = self
            pipeline.add_ready_listener(self._on_ready)
        failures = FailureLog(self.driver.pipelines)
        try:
            # Servers outlive the workers: a request still waiting at stop is answered after
            # the final commit (as under the blocking executors), then the servers are cancelled.
            async with anyio.create_task_group() as servers:
                self._servers = servers
                try:
                    async with anyio.create_task_group() as workers:
                        self._workers = workers
                        try:
                            await self._open()
                            self.started.set()
                            await self._loop()
                        finally:
                            with anyio.CancelScope(shield=True):
                                await self._wait_in_flight()
                            self._closed = True
                            workers.cancel_scope.cancel()  # what still runs is abandoned
                finally:
                    with anyio.CancelScope(shield=True):
                        self.report = await self._shutdown()
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    if self.report is None:
                        self.report = report_of(self.driver)
                finally:
                    failures.detach()
                    for pipeline in self.driver.pipelines:
                        pipeline.remove_ready_listener(self._on_ready)
                        pipeline.Executor = None
                    self._signal_change()
                    self.done.set()

    async def _open(self) -> None:
        for _, sink in self.driver.sinks():
            if isinstance(sink, AsyncSink):
                await sink.aopen()
                self._opened.append(sink)
            elif isinstance(sink, BlockingSink):
                await anyio.to_thread.run_sync(sink.open)
                self._opened.append(sink)
        for source in self.driver.io_sources:
            if isinstance(source, AsyncSource):
                await source.open()
                if has_serve(source) and self._servers is not None:
                    self._servers.start_soon(self._serve, source)
            else:
                assert isinstance(source, BlockingSource)
                await anyio.to_thread.run_sync(source.open)
            self._opened.append(source)

    async def _serve(self, source: AsyncSource) -> None:
        """A server's background work, until ``_stop_servers`` cancels it after the last commit."""
        scope, done = anyio.CancelScope(), anyio.Event()
        self._serving.append((scope, done))
        try:
            with scope:
                await source.serve()
        except Exception as exc:
            log.error("serve of %s failed: %r", source.locate_address(), exc, exc_info=exc)
            if source.Pipeline is not None:
                source.Pipeline.report_source_failure(source.Id, exc)
        finally:
            done.set()

    async def _stop_servers(self) -> None:
        """Cancel every ``serve`` and wait until each has ended (before sources are closed)."""
        for scope, _ in self._serving:
            scope.cancel()
        with anyio.move_on_after(1.0):
            for _, done in self._serving:
                await done.wait()

    async def _loop(self) -> None:
        driver, clock = self.driver, self.clock
        start = clock.time()
        deadline = None if self.stop_after is None else start + self.stop_after
        driver.start(start)
        while not self.stop_requested:
            now = clock.time()
            if deadline is not None and now >= deadline:
                return
            self._kicked = False
            work = driver.step(now)
            for trigger, sources in work.cycles:
                self._spawn(self._run_cycles, trigger, sources)
            for source in work.reads:
                self._spawn(self._read, source)
            if work.taken:
                self._signal_change()
            if driver.commit_due(idle=not work.progressed):
                await self._commit(driver.take_commit())
            if work.progressed or self._deferred:
                self._run_deferred()
                await anyio.lowlevel.checkpoint()
                continue
            if not self.serving and self._in_flight == 0 and driver.finished():
                return
            if (
                not self.serving
                and deadline is None
                and self._in_flight == 0
                and not driver.in_flight()
                and not self._kicked
                and driver.next_wake() is None
            ):
                # Nothing runs and nothing is scheduled (a pipeline throttled for good by a
                # stopped one): no event can ever come. End, as the sync executor does.
                return
            await self._idle(deadline)

    async def _idle(self, deadline: float | None) -> None:
        if self._kicked:
            return
        wake = self.driver.next_wake()
        if deadline is not None:
            wake = deadline if wake is None else min(wake, deadline)
        clock = self.clock
        idle = self._in_flight == 0 and self.driver.in_flight() == 0
        if clock.is_virtual and idle and wake is not None:
            await anyio.wait_all_tasks_blocked()  # let every other task run first
            if not self._kicked and not self.stop_requested:
                clock.sleep_until(wake)  # jump, never really sleep
            return
        timeout = math.inf
        if wake is not None and not clock.is_virtual:
            timeout = max(0.0, wake - clock.time())
        if self.poll_signals:
            timeout = min(timeout, _SIGNAL_POLL)
        self._wakeup = anyio.Event()
        with anyio.move_on_after(timeout):
            await self._wakeup.wait()
        self._wakeup = None

    def _spawn(self, fn: Any, *args: Any) -> None:
        assert self._workers is not None
        self._in_flight += 1
        self._workers.start_soon(fn, *args)

    def _finished_one(self) -> None:
        self._in_flight -= 1
        self.notify()
        self._signal_change()

    async def _run_cycles(self, trigger: Trigger, sources: Sequence[TriggerSource]) -> None:
        try:
            for source in sources:
                try:
                    if is_async_cycle(source):
                        await source.cycle()
                    else:
                        await anyio.to_thread.run_sync(source.cycle, abandon_on_cancel=True)
                except Exception as exc:
                    report_cycle_failure(source, exc)
        finally:
            self.driver.cycle_done(trigger, self.clock.time())
            self._finished_one()

    async def _read(self, source: BlockingSource | AsyncSource) -> None:
        try:
            if isinstance(source, AsyncSource):
                items = await source.read(source.read_size)
            else:
                items = await anyio.to_thread.run_sync(
                    source.read, source.read_size, abandon_on_cancel=True
                )
        except Exception as exc:
            report_read_failure(source, exc)
            source.read_failed(self.clock.time())
        else:
            source.feed(items, self.clock.time())
        finally:
            self._finished_one()

    def _run_deferred(self) -> None:
        while self._deferred and not self._flushing:
            self._deferred.popleft()()

    # ------------------------------------------------------------ commits

    async def _flush(self) -> bool:
        ok = True
        self._flushing = True
        try:
            for pipeline, sink in self.driver.sinks():
                if flush_is_noop(sink):
                    continue
                try:
                    if isinstance(sink, AsyncSink):
                        await sink.aflush()
                    else:
                        await anyio.to_thread.run_sync(sink.flush, abandon_on_cancel=True)
                except Exception as exc:
                    ok = False
                    pipeline.report_source_failure(sink.Id, exc)
                    self.driver.flush_failed(pipeline)
                    log.error("flush of %s.%s failed: %r", pipeline.Id, sink.Id, exc)
        finally:
            self._flushing = False
            self._signal_change()
        return ok

    async def _commit(self, commit: Commit) -> None:
        if not await self._flush():
            return
        for source, positions in commit.acks:
            try:
                if isinstance(source, AsyncSource):
                    await source.acknowledge(positions)
                else:
                    assert isinstance(source, BlockingSource)
                    await anyio.to_thread.run_sync(
                        source.acknowledge, positions, abandon_on_cancel=True
                    )
            except Exception as exc:
                report_read_failure(source, exc)

    # ------------------------------------------------------------ stopping

    async def _wait_in_flight(self) -> None:
        """No new input; let running cycles, reads and offloaded steps end (draining queues),
        then stop the pipelines one by one, feeders first, waiting again after each — all within
        the ``stop_timeout`` budget."""
        driver = self.driver
        driver.request_stop()
        self._stop_at = anyio.current_time() + self.stop_timeout
        self._signal_change()
        with anyio.move_on_after(self.stop_timeout):
            await self._settle()
            while driver.stop_next(self.clock.time()):
                self._signal_change()
                await self._settle()
        if self._in_flight:
            log.warning(
                "stop_timeout: %d cycles or reads still running, abandoned", self._in_flight
            )

    async def _settle(self) -> None:
        """Pump the queues between pipelines until nothing runs: no cycle or read, no event in
        flight at an async or blocking step."""
        driver = self.driver
        while True:
            self._kicked = False
            self._run_deferred()
            if driver.pump_round():
                self._signal_change()
                await anyio.lowlevel.checkpoint()
                continue
            if not (self._in_flight or driver.in_flight()):
                return
            self._wakeup = anyio.Event()
            with anyio.move_on_after(0.05):
                await self._wakeup.wait()
            self._wakeup = None

    async def _shutdown(self) -> RunReport:
        """Drain, stop pipelines (aggregates flushed), flush sinks, acknowledge, close — bounded
        by what is left of ``stop_timeout``; then close sources."""
        driver = self.driver
        stop_at = getattr(self, "_stop_at", anyio.current_time() + self.stop_timeout)
        self._closed = True
        self._run_deferred()
        abandon_in_flight(driver)
        driver.stop(self.clock.time())
        abandon_in_flight(driver)  # results held back by a pipeline that can no longer drain
        self._signal_change()
        with anyio.move_on_after(max(0.0, stop_at - anyio.current_time())) as scope:
            commit = driver.take_commit()
            await self._commit(commit)
        if scope.cancelled_caught:
            log.error("stop_timeout: sinks not flushed in time; positions not acknowledged")
        await self._stop_servers()
        with anyio.move_on_after(max(1.0, stop_at - anyio.current_time())):
            for item in reversed(self._opened):
                try:
                    if isinstance(item, AsyncSink | AsyncSource):
                        await item.aclose()
                    else:
                        await anyio.to_thread.run_sync(item.close, abandon_on_cancel=True)
                except Exception as exc:
                    log.error("close of %r failed: %r", item, exc)
        return report_of(driver)


def _process_deferred(pipeline: Pipeline, event: Any, context: Context | None) -> None:
    try:
        pipeline.process(event, context)
    except PipelineStoppedError as exc:
        log.warning("an event sent during a flush was refused: %r", exc)


class ServingPump:
    """What ``serving()`` yields: the pipelines being served, their statistics, and ``stop()``."""

    def __init__(self, runner: _AsyncRunner) -> None:
        self._runner = runner

    @property
    def pipelines(self) -> tuple[Pipeline, ...]:
        """The pipelines being served."""
        return self._runner.driver.pipelines

    def statistics(self) -> dict[str, PipelineStatistics]:
        """Each pipeline's counters now, by id."""
        return {p.Id: p.statistics() for p in self.pipelines}

    def stop(self) -> None:
        """Start the stop sequence now (leaving the ``async with`` block waits for its end)."""
        self._runner.request_stop()

    async def wait_stopped(self) -> RunReport:
        """Wait until the stop sequence ended; return the report."""
        await self._runner.done.wait()
        assert self._runner.report is not None
        return self._runner.report

    @property
    def report(self) -> RunReport | None:
        """The final report, once stopped."""
        return self._runner.report


def _flatten(pipelines: Sequence[Pipeline | Pump]) -> list[Pipeline]:
    flat: list[Pipeline] = []
    for item in pipelines:
        flat.extend(item if isinstance(item, Pump) else [item])
    return flat


def run_async(
    pipelines: Sequence[Pipeline],
    *,
    backend: str,
    clock: Clock,
    stop_after: float | None,
    stop_timeout: float,
    batch_size: int,
    handle_signals: bool,
    blocking_threshold: float | None = None,
) -> RunReport:
    """Run ``pipelines`` on a new anyio event loop of ``backend`` ("asyncio" or "trio")."""
    runner = _AsyncRunner(
        pipelines,
        clock=clock,
        stop_after=stop_after,
        stop_timeout=stop_timeout,
        batch_size=batch_size,
        serving=False,
    )
    watchdog = LoopWatchdog(blocking_threshold) if blocking_threshold is not None else None

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            if watchdog is not None:
                await tg.start(watchdog.heartbeat)
            await runner.drive()
            tg.cancel_scope.cancel()

    with stop_signals(runner.request_stop, handle_signals) as installed:
        runner.poll_signals = installed
        anyio.run(main, backend=backend)
    if watchdog is not None:
        watchdog.check()
    assert runner.report is not None
    return runner.report


@asynccontextmanager
async def serving(
    *pipelines: Pipeline | Pump,
    clock: Clock | None = None,
    batch_size: int = 256,
    stop_timeout: float = 10.0,
    blocking_threshold: float | None = None,
) -> AsyncIterator[ServingPump]:
    """Serve pipelines inside the host application's own event loop (asyncio or trio).

    No signal handler is installed and nothing else of the process is taken over. While inside
    the block the pipelines run: sources are pumped, triggers fire, application code feeds
    ``InternalSource``s with ``put`` or ``await put_async(context, event)`` (which waits while
    the pipeline is throttled). Leaving the block — normally, by an exception or by cancellation —
    stops intake, drains what is in flight, flushes aggregates and sinks and closes them, within
    ``stop_timeout`` seconds; then sources are closed.

    Args:
        pipelines: pipelines, or a ``Pump`` holding them.
        clock: where schedules take time from (default: the system clock); with
            ``pumpcore.testing.VirtualClock`` time jumps whenever every task is blocked.
        batch_size: the most events taken from one source at a time.
        stop_timeout: the bound on the stop sequence, in seconds.
        blocking_threshold: when set, a watchdog raises ``LoopBlockedError`` on leaving the
            block if the loop was ever blocked longer than this (a debugging aid for tests).

    Example::

        async with pumpcore_executors.serving(pipeline) as pump:
            await source.put_async({}, {"user": "x"})
        print(pump.report)
    """
    runner = _AsyncRunner(
        _flatten(pipelines),
        clock=clock or SystemClock(),
        stop_after=None,
        stop_timeout=stop_timeout,
        batch_size=batch_size,
        serving=True,
    )
    watchdog = LoopWatchdog(blocking_threshold) if blocking_threshold is not None else None
    async with anyio.create_task_group() as tg:
        if watchdog is not None:
            await tg.start(watchdog.heartbeat)
        tg.start_soon(runner.drive)
        await runner.started.wait()
        try:
            yield ServingPump(runner)
        finally:
            runner.request_stop()
            with anyio.CancelScope(shield=True):
                await runner.done.wait()
            tg.cancel_scope.cancel()
    if watchdog is not None:
        watchdog.check()
