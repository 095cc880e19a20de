"""The threads executor: one coordinator thread owns every pipeline; a pool does blocking work.

The pure core is not thread-safe, so all processing is serialized by confining it to one thread
(the one that called ``run``) rather than by a lock: no lock to forget, no unfair re-acquisition
starving a worker, and the coordinator's loop is the sync executor's loop. Worker threads run
what blocks — trigger sources' ``cycle``, ``BlockingSource.read``/``acknowledge``, and sinks'
``flush``/``close`` on the way out, bounded by ``stop_timeout`` — and talk back only through
one ``queue.SimpleQueue`` (the inbox):

- a read's result or a cycle's completion is a callable the coordinator runs;
- an event a cycle sends (``self.process(event)``) is a request the coordinator serves when the
  pipeline is ready, resolving a future the worker waits on: a throttled pipeline blocks the
  producing cycle, which is backpressure for blocking sources;
- an offloaded step (``pumpcore/_link.py`` rule 4) runs in a pool of its own (blocking processors;
  a separate pool, so that cycles waiting on a throttled pipeline can never take the threads the
  steps that would release it need) or on the ``AsyncBridge``'s loop (``async def`` processors);
  its outcome is a callable that resumes the pipeline on the coordinator.

SIGINT/SIGTERM put a stop request in the inbox (``SimpleQueue.put`` is safe in a signal handler).
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from pumpcore import Clock, Context, Pipeline, PipelineStoppedError, TriggerSource
from pumpcore.lowlevel import Driver, IOSource, Offload
from pumpcore.trigger import Trigger

from ._blocking import (
    BlockingIO,
    abandon_in_flight,
    abandoned,
    check_blocking,
    report_cycle_failure,
)
from ._failures import FailureLog
from ._report import RunReport
from ._signals import stop_signals

log = logging.getLogger("pumpcore.executors")

_STOP = object()

# Threads for blocking processors (as many as anyio's default thread limiter allows).
STEP_THREADS = 40


class _Request:
    """An event a worker thread asks the coordinator to process."""

    __slots__ = ("context", "event", "future", "pipeline")

    def __init__(self, pipeline: Pipeline, event: Any, context: Context | None) -> None:
        self.pipeline = pipeline
        self.event = event
        self.context = context
        self.future: concurrent.futures.Future[None] = concurrent.futures.Future()


class _ThreadsRunner:
    def __init__(
        self,
        pipelines: Sequence[Pipeline],
        *,
        clock: Clock,
        stop_after: float | None,
        stop_timeout: float,
        batch_size: int,
        workers: int,
    ) -> None:
        self.driver = Driver(pipelines, batch_size=batch_size)
        check_blocking(self.driver, "threads")
        self.clock = clock
        self.stop_after = stop_after
        self.stop_timeout = stop_timeout
        self.inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.pool = concurrent.futures.ThreadPoolExecutor(workers, "pumpcore-worker")
        self.coordinator = threading.get_ident()
        self.in_flight = 0
        self.held: list[_Request] = []
        self.stop_requested = False
        self.stop_deadline: float | None = None
        self.io = BlockingIO(self.driver, self._call)
        self._step_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._async_calls: list[Offload] = []  # offloaded async calls, started once per turn
        self.closed = False  # no offloaded step starts any more (stop_timeout passed)

    # ------------------------------------------------------------ the ExecutorLink protocol

    def notify(self) -> None:
        """Queued events are seen at the coordinator's next step (it is the caller)."""

    def changed(self) -> Any:
        """There is no loop to await on under the threads executor."""
        raise RuntimeError(
            "put_async needs an async executor (pumpcore_executors.serving or executor='asyncio' "
            "/ 'trio'); under the threads executor use put()"
        )

    def process(self, pipeline: Pipeline, event: Any, context: Context | None) -> None:
        """Process on the coordinator; from a worker, hand the event over and wait for it."""
        if threading.get_ident() == self.coordinator:
            pipeline.process(event, context)
            return
        request = _Request(pipeline, event, context)
        self.inbox.put(request)
        request.future.result()

    def offload(self, call: Offload) -> None:
        """Start an async or blocking step's call; its outcome comes back through the inbox."""
        if self.closed:
            call.origin.fail()
            call.pipeline.resume_failed(call, abandoned(call))
            return
        if call.is_async:
            self._async_calls.append(call)  # started with the turn's others: _start_async_calls
            return
        if self._step_pool is None:
            self._step_pool = concurrent.futures.ThreadPoolExecutor(STEP_THREADS, "pumpcore-step")
        future = self._step_pool.submit(call.function, call.context, call.event)
        self._when_done(call, future)

    def _when_done(self, call: Offload, future: concurrent.futures.Future[Any]) -> None:
        future.add_done_callback(lambda f: self.inbox.put(lambda: _resume(call, f)))

    def _start_async_calls(self) -> None:
        """Start the async calls offloaded since the last turn, in one trip to the bridge."""
        if not self._async_calls:
            return
        calls, self._async_calls = self._async_calls, []
        try:
            futures = self.io.bridge.submit_all([(c.function, (c.context, c.event)) for c in calls])
        except Exception as exc:  # no anyio, or the bridge failed: the events fail, not vanish
            for call in calls:
                call.pipeline.resume_failed(call, exc)
            return
        for call, future in zip(calls, futures, strict=True):
            self._when_done(call, future)

    # ------------------------------------------------------------ blocking calls

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn`` in the pool; once stopping, wait no longer than ``stop_timeout`` allows."""
        future = self.pool.submit(fn, *args)
        timeout = None
        if self.stop_deadline is not None:
            timeout = max(0.0, self.stop_deadline - time.monotonic())
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"{fn!r} did not return within stop_timeout") from None

    def _spawn(self, fn: Callable[..., None], *args: Any) -> None:
        self.in_flight += 1
        self.pool.submit(self._in_worker, fn, *args)

    def _in_worker(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        finally:
            self.inbox.put(self._worker_done)

    def _worker_done(self) -> None:
        self.in_flight -= 1

    def _cycles(self, trigger: Trigger, sources: Sequence[TriggerSource]) -> None:
        try:
            for source in sources:
                try:
                    source.cycle()
                except Exception as exc:
                    self.inbox.put(lambda s=source, e=exc: report_cycle_failure(s, e))
        finally:
            self.inbox.put(lambda: self.driver.cycle_done(trigger, self.clock.time()))

    def _read(self, source: IOSource) -> None:
        try:
            items = self.io.method(source, "read")(source.read_size)
        except Exception as exc:
            self.inbox.put(lambda e=exc: self._read_failed(source, e))
        else:
            self.inbox.put(lambda: source.feed(items, self.clock.time()))

    def _read_failed(self, source: IOSource, exc: Exception) -> None:
        from ._blocking import report_read_failure

        report_read_failure(source, exc)
        source.read_failed(self.clock.time())

    # ------------------------------------------------------------ the coordinator

    def request_stop(self) -> None:
        """Safe in a signal handler."""
        self.inbox.put(_STOP)

    def _handle(self, item: object) -> None:
        if item is _STOP:
            self.stop_requested = True
        elif isinstance(item, _Request):
            self.held.append(item)
        else:
            assert callable(item)
            item()

    def _serve_held(self) -> bool:
        """Process the events workers handed over whose pipeline is ready; True if any."""
        served = False
        keep = []
        for request in self.held:
            pipeline = request.pipeline
            if pipeline.is_ready() or pipeline.is_error() or pipeline.is_stopped():
                try:
                    pipeline.process(request.event, request.context)
                except PipelineStoppedError as exc:
                    request.future.set_exception(exc)
                else:
                    request.future.set_result(None)
                served = True
            else:
                keep.append(request)
        self.held = keep
        return served

    def _drain_inbox(self, timeout: float | None) -> None:
        self._start_async_calls()  # before waiting: what they finish is what may come in
        try:
            item = self.inbox.get(timeout=timeout) if timeout != 0 else self.inbox.get_nowait()
        except queue.Empty:
            return
        self._handle(item)
        while True:
            try:
                self._handle(self.inbox.get_nowait())
            except queue.Empty:
                return

    def _settle(self) -> None:
        """Serve running cycles and reads, pump the queues between pipelines and wait for
        offloaded steps, until nothing is running or the stop deadline passes."""
        assert self.stop_deadline is not None
        driver = self.driver
        while True:
            self._serve_held()
            driver.drain()
            if not (self.in_flight or driver.in_flight()):
                return
            left = self.stop_deadline - time.monotonic()
            if left <= 0:
                return
            self._drain_inbox(min(0.05, left))

    def run(self, handle_signals: bool) -> RunReport:
        for pipeline in self.driver.pipelines:
            pipeline.set_timer(time.perf_counter)
            pipeline.Executor = self
        failures = FailureLog(self.driver.pipelines)
        try:
            with stop_signals(self.request_stop, handle_signals):
                self.io.open()
                try:
                    self._loop()
                finally:
                    report = self._shutdown()
            return report
        finally:
            failures.detach()
            for pipeline in self.driver.pipelines:
                pipeline.Executor = None
            self.pool.shutdown(wait=False, cancel_futures=True)
            if self._step_pool is not None:
                self._step_pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        driver, clock = self.driver, self.clock
        start = clock.time()
        deadline = None if self.stop_after is None else start + self.stop_after
        driver.start(start)
        while True:
            self._drain_inbox(0)
            if self.stop_requested:
                return
            now = clock.time()
            if deadline is not None and now >= deadline:
                return
            served = self._serve_held()
            work = driver.step(now)
            for trigger, sources in work.cycles:
                self._spawn(self._cycles, trigger, sources)
            for source in work.reads:
                self._spawn(self._read, source)
            if driver.commit_due(idle=not work.progressed):
                self.io.commit()
            if work.progressed or served:
                continue
            if self.in_flight == 0 and not self.held and driver.finished():
                return
            wake = driver.next_wake()
            if deadline is not None:
                wake = deadline if wake is None else min(wake, deadline)
            if wake is None and self.in_flight == 0 and not self.held and not driver.in_flight():
                # Nothing runs and nothing is scheduled (a pipeline throttled for good by a
                # stopped one): no event can ever come. End, as the sync executor does.
                return
            if clock.is_virtual:
                if (
                    self.in_flight == 0
                    and not self.held
                    and driver.in_flight() == 0
                    and wake is not None
                ):
                    clock.sleep_until(wake)  # nothing runs anywhere: jump
                    continue
                self._drain_inbox(None)
            else:
                self._drain_inbox(None if wake is None else max(0.0, wake - clock.time()))

    def _shutdown(self) -> RunReport:
        driver = self.driver
        driver.request_stop()
        self.stop_deadline = time.monotonic() + self.stop_timeout
        # Running cycles and reads may still hand events over, offloaded steps still finish:
        # settle, then stop the pipelines one by one (feeders first), settling after each.
        self._settle()
        while time.monotonic() < self.stop_deadline and driver.stop_next(self.clock.time()):
            self._settle()
        if self.in_flight:
            log.warning("stop_timeout: %d cycles or reads still running, abandoned", self.in_flight)
        self.closed = True
        self._async_calls = []  # never started: abandoned with the rest
        abandon_in_flight(driver)
        self._serve_held()
        driver.drain()
        for request in self.held:  # their pipelines stay throttled: the events are refused
            request.future.set_exception(PipelineStoppedError("the pump is stopping"))
        self.held = []
        return self.io.shutdown(self.clock.time())


def _resume(call: Offload, future: concurrent.futures.Future[Any]) -> None:
    """Give an offloaded call's outcome back to its pipeline (on the coordinator)."""
    try:
        result = future.result(0)
    except Exception as exc:  # what the step raised, or CancelledError (the bridge closed)
        call.pipeline.resume_failed(call, exc)
    else:
        call.pipeline.resume(call, result)


def run_threads(
    pipelines: Sequence[Pipeline],
    *,
    clock: Clock,
    stop_after: float | None,
    stop_timeout: float,
    batch_size: int,
    handle_signals: bool,
    workers: int = 8,
) -> RunReport:
    """Drive ``pipelines`` with a coordinator (this thread) and a pool of ``workers`` threads."""
    runner = _ThreadsRunner(
        pipelines,
        clock=clock,
        stop_after=stop_after,
        stop_timeout=stop_timeout,
        batch_size=batch_size,
        workers=workers,
    )
    return runner.run(handle_signals)
