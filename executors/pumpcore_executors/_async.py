"""The async executor, written on anyio: the same code runs under asyncio and under trio.

One task (``_AsyncRunner.drive``) owns every pipeline: it polls the ``RunMachine`` and does what
it is told. Everything that may block runs in a worker thread (``anyio.to_thread.run_sync``):
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

Time: on a real clock the driver sleeps until the machine's next wake or until something wakes
it (a put, a readiness change, a finished cycle). On a virtual clock it never sleeps: once every
other task is blocked and no cycle or read is running, it jumps the clock to the next wake.

Other threads reach the loop with the loop's anyio token (``anyio.from_thread.run_sync``): a
``RunHandle``'s (or ``ServingPump``'s) ``stop()`` and an ``InternalSource.put``.

Errors: the driver task never lets one out of the task groups (which would wrap it in an
``ExceptionGroup``); it keeps the first in ``error`` — a source or sink that failed to open, or
anything that is not an ``Exception`` (KeyboardInterrupt, SystemExit) raised by a command, a
step or a processor, after which the run stops cleanly — and ``run``/``serving`` raise it as it
is. So does ``serving`` with an error of the host's block.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

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
)
from pumpcore.lowlevel import (
    Acknowledge,
    AsyncSink,
    AsyncSource,
    Close,
    Command,
    Cycle,
    Flush,
    Load,
    Offload,
    Open,
    Read,
    RunMachine,
    Serve,
    StopServing,
    is_async_cycle,
)

from ._blocking import abandoned, log_failure
from ._clock import SystemClock
from ._failures import FailureLog
from ._handle import RunHandle
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

T = TypeVar("T")


class _AsyncRunner:
    def __init__(
        self,
        pipelines: Sequence[Pipeline],
        *,
        clock: Clock,
        stop_after: float | None,
        stop_timeout: float,
        batch_size: int,
        commit_every: int = 1000,
        serving: bool,
        poll_signals: bool = False,
        handle: RunHandle | None = None,
    ) -> None:
        self.machine = RunMachine(
            pipelines,
            batch_size=batch_size,
            commit_every=commit_every,
            stop_after=stop_after,
            stop_timeout=stop_timeout,
            serving=serving,
        )
        self.driver = self.machine.driver
        self.clock = clock
        self.poll_signals = poll_signals
        self.handle = handle
        self.stop_requested = False
        self.error: BaseException | None = None  # what run()/serving() raise (module doc)
        self.report: RunReport | None = None
        self._kicked = False
        self._wakeup: anyio.Event | None = None
        self._changed: anyio.Event | None = None
        # What arrived during a flush and must wait for its end (nothing reaches a sink meanwhile).
        self._deferred: deque[Callable[[], None]] = deque()
        self._step_threads: anyio.CapacityLimiter | None = None
        self._loop_thread = 0
        self._token: anyio.lowlevel.EventLoopToken | None = None
        self._workers: TaskGroup | None = None
        self._servers: TaskGroup | None = None
        self._serving: list[tuple[anyio.CancelScope, anyio.Event]] = []
        self.started = anyio.Event()
        self.done = anyio.Event()

    @property
    def _closed(self) -> bool:
        """No offloaded step starts any more: the machine abandoned what was in flight."""
        return self.machine.phase in ("closing", "done") or self._workers is None

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
            if self.machine.flushing:
                self._deferred.append(
                    functools.partial(_process_deferred, pipeline, event, context)
                )
            else:
                pipeline.process(event, context)
            self.notify()
            return
        anyio.from_thread.run(self._process_from_worker, pipeline, event, context)

    def process_many(
        self, pipeline: Pipeline, events: Sequence[Any], contexts: Sequence[Context] | None
    ) -> None:
        """As ``process`` for each event; from a worker thread, one trip for all of them."""
        if threading.get_ident() == self._loop_thread:
            for i, event in enumerate(events):
                self.process(pipeline, event, None if contexts is None else contexts[i])
            return
        anyio.from_thread.run(self._process_many_from_worker, pipeline, events, contexts)

    def is_owner_thread(self) -> bool:
        """True on the loop's thread."""
        return threading.get_ident() == self._loop_thread

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the loop's thread and wait for it (from any thread)."""
        if self.is_owner_thread():
            return fn()
        assert self._token is not None
        try:
            return anyio.from_thread.run_sync(fn, token=self._token)
        except anyio.RunFinishedError:
            raise PipelineStoppedError("the run is over") from None

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
        except BaseException as exc:
            outcome = functools.partial(call.pipeline.resume_failed, call, abandoned(call))
            self._fail_run(exc)
        else:
            outcome = functools.partial(call.pipeline.resume, call, result)
        if self.machine.flushing:
            self._deferred.append(outcome)
        else:
            outcome()
        self.notify()

    async def _process_from_worker(
        self, pipeline: Pipeline, event: Any, context: Context | None
    ) -> None:
        while self.machine.flushing or not (
            pipeline.is_ready() or pipeline.is_error() or pipeline.is_stopped()
        ):
            await self.changed()  # a stopped pipeline ends the wait: process() then raises
        try:
            pipeline.process(event, context)
        except Exception:
            raise
        except BaseException as exc:
            # Out of a task, asyncio would let a KeyboardInterrupt out of the loop at once:
            # the run stops with it instead, and the waiting cycle is told its event was refused.
            self._fail_run(exc)
            raise PipelineStoppedError("the run is failing") from None
        finally:
            self.notify()

    async def _process_many_from_worker(
        self, pipeline: Pipeline, events: Sequence[Any], contexts: Sequence[Context] | None
    ) -> None:
        taken = 0
        while taken < len(events):
            while self.machine.flushing or not (
                pipeline.is_ready() or pipeline.is_error() or pipeline.is_stopped()
            ):
                await self.changed()
            rest = None if contexts is None else contexts[taken:]
            if pipeline.is_error() or pipeline.is_stopped():
                pipeline.process(events[taken], None if rest is None else rest[0])  # raises
            try:
                taken += pipeline.process_batch(events[taken:], rest)
            except Exception:
                raise
            except BaseException as exc:
                self._fail_run(exc)  # as in _process_from_worker
                raise PipelineStoppedError("the run is failing") from None
            finally:
                self.notify()

    def _signal_change(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def _on_ready(self, ready: bool) -> None:
        self.notify()
        self._signal_change()

    def request_stop(self) -> None:
        """Stop taking input; the driver task then runs the stop sequence. From a signal
        handler (the driver polls the flag) or on the loop's thread; else ``stop_threadsafe``."""
        self.stop_requested = True
        if threading.get_ident() == self._loop_thread:
            self.notify()

    def stop_threadsafe(self) -> None:
        """``request_stop`` from any thread: wake the loop through its token."""
        self.stop_requested = True
        if self.is_owner_thread() or self._token is None:
            self.notify()  # on the loop, or before it started: drive() sees the flag
            return
        with contextlib.suppress(anyio.RunFinishedError):
            anyio.from_thread.run_sync(self.notify, token=self._token)

    def _fail_run(self, exc: BaseException) -> None:
        """Something raised what is not an Exception: stop cleanly, then raise it (module doc)."""
        if self.error is None:
            self.error = exc
        self.stop_requested = True
        self.notify()

    # ------------------------------------------------------------ the driver task

    async def drive(self) -> None:
        """Interpret the run machine's commands until the run is over; when cancelled or
        failing, run the stop sequence first (shielded, bounded by ``stop_timeout``)."""
        self._loop_thread = threading.get_ident()
        self._token = anyio.lowlevel.current_token()
        machine = self.machine
        for pipeline in machine.pipelines:
            pipeline.set_timer(time.perf_counter)
            pipeline.Executor = self
            pipeline.add_ready_listener(self._on_ready)
        failures = FailureLog(machine.pipelines)
        if self.handle is not None:
            self.handle.attach(self.stop_threadsafe)
        try:
            # Servers outlive the workers: a request still waiting at stop is answered after
            # the final commit, then the servers are stopped (StopServing).
            async with anyio.create_task_group() as servers:
                self._servers = servers
                async with anyio.create_task_group() as workers:
                    self._workers = workers
                    try:
                        await self._loop()
                    except BaseException as exc:
                        machine.request_stop()  # close what was opened, then let it out
                        cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
                        if not cancelled:
                            self._fail_run(exc)
                        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                            await self._loop()
                        if cancelled:
                            raise
                    finally:
                        workers.cancel_scope.cancel()  # what still runs is abandoned
                servers.cancel_scope.cancel()
            if machine.error is not None:
                self.error = machine.error
        finally:
            if self.handle is not None:
                self.handle.detach()
            self.report = report_of(self.driver)
            failures.detach()
            for pipeline in machine.pipelines:
                pipeline.remove_ready_listener(self._on_ready)
                pipeline.Executor = None
            self._workers = None
            self._signal_change()
            self.done.set()

    async def _loop(self) -> None:
        machine, clock = self.machine, self.clock
        while not machine.finished:
            if self.stop_requested or (self.handle is not None and self.handle.stop_requested):
                machine.request_stop()
            self._kicked = False
            self._run_deferred()
            step = machine.poll(clock.time(), time.monotonic())
            if machine.phase == "running" and not self.started.is_set():
                self.started.set()
            for command in step.commands:
                await self._perform(command)
            if step.commands or step.again:
                self._signal_change()  # events were taken, or work started: waiters look again
            if step.commands or step.again or self._deferred:
                self._run_deferred()
                await anyio.lowlevel.checkpoint()
                continue
            await self._idle(step.wake, step.real_wake)
        self.started.set()

    async def _idle(self, wake: float | None, real_wake: float | None) -> None:
        if self._kicked:
            return
        clock = self.clock
        if clock.is_virtual and self.machine.idle() and wake is not None:
            await anyio.wait_all_tasks_blocked()  # let every other task run first
            if not self._kicked and not self.stop_requested:
                clock.sleep_until(wake)  # jump, never really sleep
            return
        timeout = math.inf
        if wake is not None and not clock.is_virtual:
            timeout = max(0.0, wake - clock.time())
        if real_wake is not None:
            timeout = min(timeout, max(0.0, real_wake - time.monotonic()))
        if self.poll_signals:
            timeout = min(timeout, _SIGNAL_POLL)
        self._wakeup = anyio.Event()
        with anyio.move_on_after(timeout):
            await self._wakeup.wait()
        self._wakeup = None

    # ------------------------------------------------------------ commands

    async def _perform(self, command: Command) -> None:
        """Reads, cycles and lookup loads run as tasks; a server's ``serve`` as a task that
        outlives the workers; open, flush, acknowledge and close are awaited here, in order —
        nothing reaches a sink during a flush (what completes meanwhile is deferred)."""
        kind = type(command)
        if kind is Read or kind is Cycle or kind is Load:
            assert self._workers is not None
            self._workers.start_soon(self._background, command)
        elif kind is Serve:
            assert isinstance(command, Serve)
            assert self._servers is not None
            self._servers.start_soon(self._serve, command)
        elif kind is StopServing:
            await self._stop_servers()
            self.machine.done(command, self.clock.time())
        else:
            await self._inline(command)

    async def _inline(self, command: Command) -> None:
        stop_by = self.machine.stop_by
        timeout = math.inf
        if stop_by is not None:
            floor = 1.0 if type(command) is Close else 0.0
            timeout = max(floor, stop_by - time.monotonic())
        await self._answer(command, timeout)

    async def _background(self, command: Command) -> None:
        try:
            await self._answer(command, math.inf)
        finally:
            self.notify()
            self._signal_change()

    async def _answer(self, command: Command, timeout: float) -> None:
        """Carry out ``command`` within ``timeout`` and give the machine its outcome. Every
        command is answered, cancelled ones too (as failed, then the cancellation goes on): an
        unanswered close would leave the shielded stop sequence waiting for it."""
        try:
            with anyio.fail_after(timeout):
                result = await _call(command)
        except BaseException as exc:
            cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
            if not cancelled:
                log_failure(command, exc)
            self.machine.failed(command, self.clock.time(), exc)
            if cancelled:
                raise
            if not isinstance(exc, Exception):
                self._fail_run(exc)
        else:
            self.machine.done(command, self.clock.time(), result)

    async def _serve(self, command: Serve) -> None:
        """A server's background work, until ``StopServing`` cancels it after the last commit."""
        source = command.source
        scope, done = anyio.CancelScope(), anyio.Event()
        self._serving.append((scope, done))
        try:
            with scope:
                await source.serve()
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as exc:
            log.error("serve of %s failed: %r", source.locate_address(), exc, exc_info=exc)
            self.machine.failed(command, self.clock.time(), exc)
            if not isinstance(exc, Exception):
                self._fail_run(exc)
        finally:
            done.set()

    async def _stop_servers(self) -> None:
        """Cancel every ``serve`` and wait until each has ended (before sources are closed)."""
        for scope, _ in self._serving:
            scope.cancel()
        with anyio.move_on_after(1.0):
            for _, done in self._serving:
                await done.wait()

    def _run_deferred(self) -> None:
        while self._deferred and not self.machine.flushing:
            self._deferred.popleft()()


async def _call(command: Command) -> Any:
    """Carry out a read, cycle, lookup load, open, flush, acknowledge or close on the loop: anyio
    adapters' coroutines are awaited, blocking methods run in a worker thread."""
    kind = type(command)
    if kind is Load:
        assert isinstance(command, Load)
        if command.is_async:
            return await command.function()
        return await anyio.to_thread.run_sync(command.function, abandon_on_cancel=True)
    if kind is Cycle:
        assert isinstance(command, Cycle)
        failures = []
        for source in command.sources:
            try:
                if is_async_cycle(source):
                    await source.cycle()
                else:
                    await anyio.to_thread.run_sync(source.cycle, abandon_on_cancel=True)
            except Exception as exc:
                failures.append((source, exc))
        return failures
    if kind is Read:
        assert isinstance(command, Read)
        part: Any = command.source
        name, args = "read", (command.max_items,)  # type: tuple[str, tuple[Any, ...]]
    elif kind is Acknowledge:
        assert isinstance(command, Acknowledge)
        part, name, args = command.source, "acknowledge", (command.positions,)
    elif kind is Flush:
        assert isinstance(command, Flush)
        part, name, args = command.sink, "flush", ()
    else:
        assert isinstance(command, Open | Close)
        part, name, args = command.part, kind.__name__.lower(), ()
    if isinstance(part, AsyncSink):
        return await getattr(part, {"open": "aopen", "flush": "aflush", "close": "aclose"}[name])()
    if isinstance(part, AsyncSource):
        return await getattr(part, "aclose" if name == "close" else name)(*args)
    return await anyio.to_thread.run_sync(getattr(part, name), *args, abandon_on_cancel=True)


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
        """Start the stop sequence now, from any thread (leaving the ``async with`` block waits
        for its end)."""
        self._runner.stop_threadsafe()

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
    commit_every: int = 1000,
    handle_signals: bool,
    blocking_threshold: float | None = None,
    handle: RunHandle | None = None,
    until_stopped: bool = False,
) -> RunReport:
    """Run ``pipelines`` on a new anyio event loop of ``backend`` ("asyncio" or "trio")."""
    runner = _AsyncRunner(
        pipelines,
        clock=clock,
        stop_after=stop_after,
        stop_timeout=stop_timeout,
        batch_size=batch_size,
        commit_every=commit_every,
        serving=until_stopped,
        handle=handle,
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
    if runner.error is not None:
        raise runner.error
    if watchdog is not None:
        watchdog.check()
    assert runner.report is not None
    return runner.report


@asynccontextmanager
async def serving(
    *pipelines: Pipeline | Pump,
    clock: Clock | None = None,
    batch_size: int = 256,
    commit_every: int = 1000,
    stop_timeout: float = 10.0,
    blocking_threshold: float | None = None,
) -> AsyncIterator[ServingPump]:
    """Serve pipelines inside the host application's own event loop (asyncio or trio).

    No signal handler is installed and nothing else of the process is taken over. While inside
    the block the pipelines run: sources are pumped, triggers fire, application code feeds
    ``InternalSource``s with ``put`` or ``await put_async(context, event)`` (which waits while
    the pipeline is throttled; ``wait=True`` also waits until the event is committed). Leaving
    the block — normally, by an exception or by cancellation — stops intake, drains what is in
    flight, flushes aggregates and sinks and closes them, within ``stop_timeout`` seconds; then
    sources are closed. What a pipeline could not take (it was stopped by a hard error) is
    counted in the report's ``unprocessed``; ``put``/``put_async`` after the stop raise
    ``PipelineStoppedError``.

    An error leaves the block as it happened, never as an ``ExceptionGroup``: the host's own,
    a source or sink that failed to open (the block is then not entered), or a KeyboardInterrupt
    raised inside the run (the host's block is then cancelled).

    Args:
        pipelines: pipelines, or a ``Pump`` holding them.
        clock: where schedules take time from (default: the system clock); with
            ``pumpcore.testing.VirtualClock`` time jumps whenever every task is blocked.
        batch_size: the most events taken from one source at a time.
        commit_every: commit (flush sinks, acknowledge positions) once this many positions were
            taken or events reached sinks; sooner whenever the run is idle.
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
        commit_every=commit_every,
        serving=True,
    )
    watchdog = LoopWatchdog(blocking_threshold) if blocking_threshold is not None else None
    host_error: BaseException | None = None

    async def drive(cancel_scope: anyio.CancelScope) -> None:
        await runner.drive()
        if runner.error is not None:
            cancel_scope.cancel()  # interrupt the host's block; the error is raised below

    async with anyio.create_task_group() as tg:
        if watchdog is not None:
            await tg.start(watchdog.heartbeat)
        tg.start_soon(drive, tg.cancel_scope)
        await runner.started.wait()
        if runner.error is None and runner.machine.error is None:
            try:
                yield ServingPump(runner)
            except anyio.get_cancelled_exc_class():
                raise
            except BaseException as exc:  # out of the task group it would be an ExceptionGroup
                host_error = exc
            finally:
                runner.stop_threadsafe()
                with anyio.CancelScope(shield=True):
                    await runner.done.wait()
                tg.cancel_scope.cancel()
    if host_error is not None:
        raise host_error
    if runner.error is not None:
        raise runner.error
    if watchdog is not None:
        watchdog.check()
