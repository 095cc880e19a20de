"""The synchronous executor: the run machine's commands carried out in the calling thread.

Everything, blocking reads and flushes included, runs inline, one command after the other; so it
cannot bound a blocking call by ``stop_timeout`` (the threads and async executors can), and it
cannot run ``async`` cycles (a TypeError names them); anyio-based sources and sinks run through
an ``AsyncBridge``.

Offloaded steps (``pumpcore/_link.py`` rule 4) complete before ``offload`` returns: a blocking
processor is called inline, an ``async def`` one is awaited on the bridge's loop thread while this
thread waits. One call at a time, so ``async_concurency_limit`` is never reached; outputs and
statistics are those of the other executors.

A read of an anyio-based source is the one command that does not hold this thread: it is started
on the bridge's loop and answered when it returns, so a server source waiting for its next
request does not hold up the commit its last client waits for (a webhook answers once its
request is committed). Its coroutines run on the bridge's loop either way.

Other threads reach the run through an ``Inbox``: a ``RunHandle``'s stop, an ``InternalSource.put``
(run here, between steps), a bridged server's failure, a bridged read's outcome. On a real clock
the loop waits on the inbox rather than sleeping, so each of them wakes it at once.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pumpcore import Clock, Context, Pipeline
from pumpcore.lowlevel import AsyncSource, Offload, Read, RunMachine, Serve

from ._blocking import BlockingParts, answer, check_blocking, log_failure
from ._failures import FailureLog
from ._handle import RunHandle
from ._inbox import Call, Inbox
from ._report import RunReport, report_of
from ._signals import stop_signals

T = TypeVar("T")

log = logging.getLogger("pumpcore.executors")

# While signal handlers are installed, a wait is cut in slices this long so that a stop request
# is seen promptly (a signal handler only sets a flag: it does not end a wait on the inbox).
_SLICE = 0.1

# What ``request_stop`` puts into the inbox to wake a wait (nothing to run).
_WAKE = object()


class _SyncLink:
    """The ``ExecutorLink`` of the sync executor: everything happens in the calling thread."""

    def __init__(self, parts: BlockingParts, inbox: Inbox) -> None:
        self.parts = parts
        self.inbox = inbox

    def is_owner_thread(self) -> bool:
        """True on the thread that called ``run``."""
        return self.inbox.is_owner_thread()

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the calling thread between steps; wait for it."""
        return self.inbox.call(fn)

    def notify(self) -> None:
        """Queued events are seen at the loop's next step (it is the caller)."""

    def changed(self) -> Any:
        """There is no loop to await on under the sync executor."""
        raise RuntimeError(
            "put_async needs an async executor (pumpcore_executors.serving or executor='asyncio' "
            "/ 'trio'); under the sync executor use put()"
        )

    def process(self, pipeline: Pipeline, event: Any, context: Context | None) -> None:
        """Process at once (there is only this thread)."""
        pipeline.process(event, context)

    def process_many(
        self, pipeline: Pipeline, events: Sequence[Any], contexts: Sequence[Context] | None
    ) -> None:
        """Process them at once, in order (there is only this thread): as a batch, then one by
        one from where the pipeline stopped taking (as ``process`` would each)."""
        taken = pipeline.process_batch(events, contexts)
        for i in range(taken, len(events)):
            pipeline.process(events[i], None if contexts is None else contexts[i])

    def offload(self, call: Offload) -> None:
        """Run the call now: inline, or on the bridge's loop for an ``async def``."""
        try:
            if call.is_async:
                result = self.parts.bridge.call(call.function, call.context, call.event)
            else:
                result = call.function(call.context, call.event)
        except Exception as exc:
            call.pipeline.resume_failed(call, exc)
        else:
            call.pipeline.resume(call, result)


def run_sync(
    pipelines: Sequence[Pipeline],
    *,
    clock: Clock,
    stop_after: float | None,
    batch_size: int,
    commit_every: int = 1000,
    handle_signals: bool = False,
    stop_timeout: float = 10.0,
    handle: RunHandle | None = None,
    until_stopped: bool = False,
) -> RunReport:
    """Drive ``pipelines`` until they finish or ``stop_after`` seconds of ``clock`` pass."""
    machine = RunMachine(
        pipelines,
        batch_size=batch_size,
        commit_every=commit_every,
        stop_after=stop_after,
        stop_timeout=stop_timeout,
        serving=until_stopped,
    )
    check_blocking(machine, "sync")
    inbox = Inbox()
    parts = BlockingParts(lambda command, exc: inbox.put((command, exc)))
    runner = _SyncRunner(machine, parts, inbox, clock, handle)
    link = _SyncLink(parts, inbox)
    if handle is not None:
        handle.attach(lambda: inbox.put(None))  # None only wakes the loop; it looks at the handle
    failures = FailureLog(machine.pipelines)
    for pipeline in machine.pipelines:
        pipeline.set_timer(time.perf_counter)
        pipeline.Executor = link
    try:
        with stop_signals(runner.request_stop, handle_signals) as polling:
            runner.polling = polling
            try:
                runner.drive()
            except BaseException:
                machine.request_stop()  # close what was opened, then let the error out
                with contextlib.suppress(Exception):
                    runner.drive()
                raise
            finally:
                parts.close()
        error = machine.error or runner.fatal
        if error is not None:
            raise error
        return report_of(machine.driver)
    finally:
        if handle is not None:
            handle.detach()
        inbox.close()
        failures.detach()
        for pipeline in machine.pipelines:
            pipeline.Executor = None


class _SyncRunner:
    """Interprets the machine's commands inline until the run is over."""

    def __init__(
        self,
        machine: RunMachine,
        parts: BlockingParts,
        inbox: Inbox,
        clock: Clock,
        handle: RunHandle | None,
    ) -> None:
        self.machine, self.parts, self.inbox, self.clock = machine, parts, inbox, clock
        self.handle = handle
        self.polling = False
        self.stop_requested = False
        # A command raised what is not an Exception (KeyboardInterrupt, SystemExit): the run
        # stops cleanly, then ``run`` raises it. While failing, further ones are only answered.
        self.fatal: BaseException | None = None

    def request_stop(self) -> None:
        """Safe in a signal handler: sets a flag and wakes the inbox (``SimpleQueue.put`` is
        reentrant). The wake matters: CPython 3.11's ``SimpleQueue.get(timeout)`` interrupted
        by a signal whose handler returns after the deadline waits for ever, unless an item
        arrived meanwhile."""
        self.stop_requested = True
        self.inbox.put(_WAKE)

    def drive(self) -> None:
        machine, clock = self.machine, self.clock
        while not machine.finished:
            self._handle_inbox(0)
            if self.stop_requested or (self.handle is not None and self.handle.stop_requested):
                machine.request_stop()
            step = machine.poll(clock.time(), time.monotonic())
            for command in step.commands:
                if isinstance(command, Read) and isinstance(command.source, AsyncSource):
                    self._start_read(command.source, command)
                    continue
                try:
                    answer(machine, command, clock.time, self.parts.perform)
                except BaseException as exc:  # answered already: stop cleanly, then raise it
                    self.fatal = self.fatal or exc
                    machine.request_stop()
            if step.commands or step.again:
                continue
            wake, real_wake = step.wake, step.real_wake
            if clock.is_virtual and wake is not None:
                clock.sleep_until(wake)  # jump; whatever came meanwhile is seen next turn
                continue
            # Wait on the inbox, not in a sleep: a put or a stop from another thread wakes it.
            timeout = None if wake is None else max(0.0, wake - clock.time())
            if real_wake is not None:
                left = max(0.0, real_wake - time.monotonic())
                timeout = left if timeout is None else min(timeout, left)
            if self.polling:  # a signal handler only sets a flag: look at it in slices
                timeout = _SLICE if timeout is None else min(timeout, _SLICE)
            self._handle_inbox(timeout)

    def _start_read(self, source: AsyncSource, command: Read) -> None:
        """Start a bridged read; its outcome comes back through the inbox."""
        (future,) = self.parts.bridge.submit_all([(source.read, (command.max_items,))])
        future.add_done_callback(lambda done: self.inbox.put((command, done)))

    def _answer_read(self, command: Read, future: concurrent.futures.Future[Any]) -> None:
        if future.cancelled():  # the bridge is closing: the run is over
            return
        exc = future.exception()
        if exc is None:
            self.machine.done(command, self.clock.time(), future.result())
        else:
            log_failure(command, exc)
            self.machine.failed(command, self.clock.time(), exc)

    def _handle_inbox(self, timeout: float | None) -> None:
        """Run what other threads handed over, waiting up to ``timeout`` for the first."""
        self.inbox.drain(self._handle, timeout)

    def _handle(self, item: object) -> None:
        if item is _WAKE:
            return
        if isinstance(item, Call):
            item.run()
        elif isinstance(item, tuple) and isinstance(item[0], Read):
            self._answer_read(*item)
        elif isinstance(item, tuple):
            serve, exc = item
            assert isinstance(serve, Serve)
            self.machine.failed(serve, self.clock.time(), exc)
