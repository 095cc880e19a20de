"""The synchronous executor: the run machine's commands carried out in the calling thread.

Everything, blocking reads and flushes included, runs inline, one command after the other; so it
cannot bound a blocking call by ``stop_timeout`` (the threads and async executors can), and it
cannot run ``async`` cycles (a TypeError names them); anyio-based sources and sinks run through
an ``AsyncBridge``.

Offloaded steps (``pumpcore/_link.py`` rule 4) complete before ``offload`` returns: a blocking
processor is called inline, an ``async def`` one is awaited on the bridge's loop thread while this
thread waits. One call at a time, so ``async_concurency_limit`` is never reached; outputs and
statistics are those of the other executors.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from collections.abc import Sequence
from typing import Any

from pumpcore import Clock, Context, Pipeline
from pumpcore.lowlevel import Offload, RunMachine, Serve

from ._blocking import BlockingParts, check_blocking, log_failure
from ._failures import FailureLog
from ._report import RunReport, report_of
from ._signals import stop_signals

log = logging.getLogger("pumpcore.executors")

# While signal handlers are installed, a real sleep is cut in slices this long so that a stop
# request is seen promptly (a signal handler that only sets a flag does not end time.sleep).
_SLICE = 0.1


class _SyncLink:
    """The ``ExecutorLink`` of the sync executor: everything happens in the calling thread."""

    def __init__(self, parts: BlockingParts) -> None:
        self.parts = parts

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
    handle_signals: bool = False,
    stop_timeout: float = 10.0,
) -> RunReport:
    """Drive ``pipelines`` until they finish or ``stop_after`` seconds of ``clock`` pass."""
    machine = RunMachine(
        pipelines, batch_size=batch_size, stop_after=stop_after, stop_timeout=stop_timeout
    )
    check_blocking(machine, "sync")
    serve_failures: queue.SimpleQueue[tuple[Serve, BaseException]] = queue.SimpleQueue()
    parts = BlockingParts(lambda command, exc: serve_failures.put((command, exc)))
    link = _SyncLink(parts)
    failures = FailureLog(machine.pipelines)
    for pipeline in machine.pipelines:
        pipeline.set_timer(time.perf_counter)
        pipeline.Executor = link
    stop = [False]

    def request_stop() -> None:
        stop[0] = True

    try:
        with stop_signals(request_stop, handle_signals) as polling:
            try:
                _drive(machine, parts, clock, stop, polling, serve_failures)
            except BaseException:
                machine.request_stop()  # close what was opened, then let the error out
                with contextlib.suppress(Exception):
                    _drive(machine, parts, clock, stop, polling, serve_failures)
                raise
            finally:
                parts.close()
        if machine.error is not None:
            raise machine.error
        return report_of(machine.driver)
    finally:
        failures.detach()
        for pipeline in machine.pipelines:
            pipeline.Executor = None


def _drive(
    machine: RunMachine,
    parts: BlockingParts,
    clock: Clock,
    stop: list[bool],
    polling: bool,
    serve_failures: queue.SimpleQueue[tuple[Serve, BaseException]],
) -> None:
    """Interpret the machine's commands inline until the run is over."""
    while not machine.finished:
        if stop[0]:
            machine.request_stop()
        while not serve_failures.empty():
            serve, exc = serve_failures.get()
            machine.failed(serve, clock.time(), exc)
        step = machine.poll(clock.time(), time.monotonic())
        for command in step.commands:
            try:
                result = parts.perform(command)
            except Exception as exc:
                log_failure(command, exc)
                machine.failed(command, clock.time(), exc)
            else:
                machine.done(command, clock.time(), result)
        if step.commands or step.again:
            continue
        wake = step.wake
        if wake is None or (polling and not clock.is_virtual):
            # Serving with nothing scheduled, or signals to notice: wait in slices.
            slice_end = clock.time() + _SLICE
            wake = slice_end if wake is None else min(wake, slice_end)
        clock.sleep_until(wake)
