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

SIGINT/SIGTERM and a ``RunHandle`` put a stop request in the inbox (``SimpleQueue.put`` is safe
in a signal handler); an ``InternalSource.put`` from another thread is a ``Call`` the coordinator
runs (``ExecutorLink.call``). When the run is over the inbox is closed: a put, or an event a
cycle still sends, fails with ``PipelineStoppedError`` rather than waiting forever.

A worker's command that raises what is not an ``Exception`` (KeyboardInterrupt, SystemExit) is
answered as failed, stops the run cleanly, and ``run`` then raises it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pumpcore import Clock, Context, Pipeline, PipelineStoppedError
from pumpcore.lowlevel import Close, Command, Cycle, Load, Offload, Read, RunMachine

from ._blocking import (
    BlockingParts,
    abandoned,
    answer,
    check_blocking,
    describe,
    log_failure,
)
from ._failures import FailureLog
from ._handle import RunHandle
from ._inbox import Call, Inbox
from ._report import RunReport, report_of
from ._signals import stop_signals

T = TypeVar("T")

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


class _ManyRequest:
    """Events a worker thread asks the coordinator to process, in order, as the pipeline
    takes them (``ExecutorLink.process_many``)."""

    __slots__ = ("contexts", "events", "future", "pipeline", "taken")

    def __init__(
        self, pipeline: Pipeline, events: Sequence[Any], contexts: Sequence[Context] | None
    ) -> None:
        self.pipeline = pipeline
        self.events = events
        self.contexts = contexts
        self.taken = 0
        self.future: concurrent.futures.Future[None] = concurrent.futures.Future()

    def serve(self) -> bool:
        """Process what the pipeline takes now; True once every event was taken.

        Raises:
            PipelineStoppedError: the pipeline stopped before taking them all.
        """
        pipeline, taken = self.pipeline, self.taken
        rest = None if self.contexts is None else self.contexts[taken:]
        if pipeline.is_error() or pipeline.is_stopped():
            pipeline.process(self.events[taken], None if rest is None else rest[0])  # raises
        self.taken += pipeline.process_batch(self.events[taken:], rest)
        return self.taken == len(self.events)


class _ThreadsRunner:
    def __init__(
        self,
        pipelines: Sequence[Pipeline],
        *,
        clock: Clock,
        stop_after: float | None,
        stop_timeout: float,
        batch_size: int,
        commit_every: int = 1000,
        workers: int,
        handle: RunHandle | None = None,
        until_stopped: bool = False,
    ) -> None:
        self.machine = RunMachine(
            pipelines,
            batch_size=batch_size,
            commit_every=commit_every,
            stop_after=stop_after,
            stop_timeout=stop_timeout,
            serving=until_stopped,
        )
        check_blocking(self.machine, "threads")
        self.clock = clock
        self.inbox = Inbox()
        self.pool = concurrent.futures.ThreadPoolExecutor(workers, "pumpcore-worker")
        self.handle = handle
        self.held: list[_Request | _ManyRequest] = []
        self.stop_requested = False
        self.fatal: BaseException | None = None  # raised by ``run`` once the run stopped
        self.parts = BlockingParts(lambda command, exc: self.inbox.put((command, exc)))
        self._step_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._async_calls: list[Offload] = []  # offloaded async calls, started once per turn

    @property
    def closed(self) -> bool:
        """No offloaded step starts any more: the machine abandoned what was in flight."""
        return self.machine.phase in ("closing", "done")

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
        if self.inbox.is_owner_thread():
            pipeline.process(event, context)
            return
        request = _Request(pipeline, event, context)
        self.inbox.put_open(request)
        request.future.result()

    def process_many(
        self, pipeline: Pipeline, events: Sequence[Any], contexts: Sequence[Context] | None
    ) -> None:
        """As ``process`` for each event; from a worker, one hand-over for all of them."""
        if self.inbox.is_owner_thread():
            for i, event in enumerate(events):
                pipeline.process(event, None if contexts is None else contexts[i])
            return
        request = _ManyRequest(pipeline, events, contexts)
        self.inbox.put_open(request)
        request.future.result()

    def is_owner_thread(self) -> bool:
        """True on the coordinator."""
        return self.inbox.is_owner_thread()

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the coordinator (between its steps) and wait for it."""
        return self.inbox.call(fn)

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
        future.add_done_callback(lambda f: self.inbox.put(lambda: self._resume(call, f)))

    def _resume(self, call: Offload, future: concurrent.futures.Future[Any]) -> None:
        """Give an offloaded call's outcome back to its pipeline (on the coordinator)."""
        try:
            result = future.result(0)
        except Exception as exc:  # what the step raised, or CancelledError (the bridge closed)
            call.pipeline.resume_failed(call, exc)
        except BaseException as exc:
            call.pipeline.resume_failed(call, abandoned(call))
            self._fail_run(exc)
        else:
            call.pipeline.resume(call, result)

    def _fail_run(self, exc: BaseException) -> None:
        """Something raised what is not an Exception: stop cleanly, then ``run`` raises it."""
        if self.fatal is None:
            self.fatal = exc
        self.stop_requested = True

    def _start_async_calls(self) -> None:
        """Start the async calls offloaded since the last turn, in one trip to the bridge."""
        if not self._async_calls:
            return
        calls, self._async_calls = self._async_calls, []
        try:
            futures = self.parts.bridge.submit_all(
                [(c.function, (c.context, c.event)) for c in calls]
            )
        except Exception as exc:  # no anyio, or the bridge failed: the events fail, not vanish
            for call in calls:
                call.pipeline.resume_failed(call, exc)
            return
        for call, future in zip(calls, futures, strict=True):
            self._when_done(call, future)

    # ------------------------------------------------------------ commands

    def _perform(self, command: Command) -> None:
        """Reads, cycles and lookup loads run in the pool and answer through the inbox (a
        refresh must not stall the pipelines); the rest (open, flush, acknowledge, close) run in
        the pool while the coordinator waits, bounded by ``stop_timeout`` once stopping —
        nothing reaches a sink during a flush."""
        kind = type(command)
        if kind is Read or kind is Cycle or kind is Load:
            self.pool.submit(self._in_worker, command)
            return
        try:
            answer(self.machine, command, self.clock.time, self._perform_bounded)
        except BaseException as exc:  # answered already: stop cleanly, then raise it
            self._fail_run(exc)

    def _perform_bounded(self, command: Command) -> Any:
        return self._call(self.parts.perform, command)

    def _in_worker(self, command: Command) -> None:
        try:
            result = self.parts.perform(command)
        except BaseException as exc:  # a KeyboardInterrupt too: the coordinator raises it
            log_failure(command, exc)
            self.inbox.put((command, exc))
        else:
            self.inbox.put(lambda: self.machine.done(command, self.clock.time(), result))

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn`` in the pool; once stopping, wait no longer than ``stop_timeout`` allows
        (a close gets a second at least)."""
        future = self.pool.submit(fn, *args)
        timeout = None
        stop_by = self.machine.stop_by
        if stop_by is not None:
            floor = 1.0 if type(args[0]) is Close else 0.0
            timeout = max(floor, stop_by - time.monotonic())
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"{describe(args[0])} did not return within stop_timeout") from None

    # ------------------------------------------------------------ the coordinator

    def request_stop(self) -> None:
        """Safe in a signal handler."""
        self.inbox.put(_STOP)

    def _handle(self, item: object) -> None:
        if item is _STOP:
            self.stop_requested = True
        elif isinstance(item, Call):
            item.run()
        elif isinstance(item, _Request | _ManyRequest):
            self.held.append(item)
        elif isinstance(item, tuple):
            command, exc = item
            self.machine.failed(command, self.clock.time(), exc)
            if not isinstance(exc, Exception):
                self._fail_run(exc)
        else:
            assert callable(item)
            item()

    def _serve_held(self) -> bool:
        """Process the events workers handed over whose pipeline is ready; True if any."""
        served = False
        keep: list[_Request | _ManyRequest] = []
        for request in self.held:
            pipeline = request.pipeline
            if pipeline.is_ready() or pipeline.is_error() or pipeline.is_stopped() or self.closed:
                try:
                    if self.closed:
                        raise PipelineStoppedError("the pump is stopping")
                    if isinstance(request, _ManyRequest):
                        if not request.serve():
                            keep.append(request)  # throttled part-way: the rest waits
                            served = True
                            continue
                    else:
                        pipeline.process(request.event, request.context)
                except PipelineStoppedError as exc:
                    request.future.set_exception(exc)
                except BaseException as exc:
                    if isinstance(exc, Exception):
                        raise
                    # A processor raised KeyboardInterrupt or the like: the run stops with it;
                    # the waiting cycle is told its event was refused.
                    request.future.set_exception(PipelineStoppedError("the run is failing"))
                    self._fail_run(exc)
                else:
                    request.future.set_result(None)
                served = True
            else:
                keep.append(request)
        self.held = keep
        return served

    def _drain_inbox(self, timeout: float | None) -> None:
        self._start_async_calls()  # before waiting: what they finish is what may come in
        self.inbox.drain(self._handle, timeout)

    def run(self, handle_signals: bool) -> RunReport:
        machine = self.machine
        for pipeline in machine.pipelines:
            pipeline.set_timer(time.perf_counter)
            pipeline.Executor = self
        failures = FailureLog(machine.pipelines)
        if self.handle is not None:
            self.handle.attach(self.request_stop)
        try:
            with stop_signals(self.request_stop, handle_signals):
                try:
                    self._loop()
                except BaseException:
                    machine.request_stop()  # close what was opened, then let the error out
                    with contextlib.suppress(Exception):
                        self._loop()
                    raise
                finally:
                    self.parts.close()
            error = machine.error or self.fatal
            if error is not None:
                raise error
            return report_of(machine.driver)
        finally:
            if self.handle is not None:
                self.handle.detach()
            self._close_inbox()
            failures.detach()
            for pipeline in machine.pipelines:
                pipeline.Executor = None
            self.pool.shutdown(wait=False, cancel_futures=True)
            if self._step_pool is not None:
                self._step_pool.shutdown(wait=False, cancel_futures=True)

    def _close_inbox(self) -> None:
        """The run is over: whoever still waits on the coordinator is told so."""
        stopped = PipelineStoppedError("the run is over")
        for item in self.held + self.inbox.close():
            if isinstance(item, _Request | _ManyRequest):
                item.future.set_exception(stopped)
        self.held = []

    def _loop(self) -> None:
        machine, clock = self.machine, self.clock
        while not machine.finished:
            self._drain_inbox(0)
            if self.stop_requested or (self.handle is not None and self.handle.stop_requested):
                machine.request_stop()
            served = self._serve_held()
            step = machine.poll(clock.time(), time.monotonic())
            for command in step.commands:
                self._perform(command)
            if step.commands or step.again or served:
                continue
            wake, real_wake = step.wake, step.real_wake
            if clock.is_virtual:
                if machine.idle() and not self.held and wake is not None:
                    clock.sleep_until(wake)  # nothing runs anywhere: jump
                    continue
                wake = None
            timeout: float | None = None
            if wake is not None:
                timeout = max(0.0, wake - clock.time())
            if real_wake is not None:
                left = max(0.0, real_wake - time.monotonic())
                timeout = left if timeout is None else min(timeout, left)
            self._drain_inbox(timeout)


def run_threads(
    pipelines: Sequence[Pipeline],
    *,
    clock: Clock,
    stop_after: float | None,
    stop_timeout: float,
    batch_size: int,
    commit_every: int = 1000,
    handle_signals: bool,
    workers: int = 8,
    handle: RunHandle | None = None,
    until_stopped: bool = False,
) -> RunReport:
    """Drive ``pipelines`` with a coordinator (this thread) and a pool of ``workers`` threads."""
    runner = _ThreadsRunner(
        pipelines,
        clock=clock,
        stop_after=stop_after,
        stop_timeout=stop_timeout,
        batch_size=batch_size,
        commit_every=commit_every,
        workers=workers,
        handle=handle,
        until_stopped=until_stopped,
    )
    return runner.run(handle_signals)
