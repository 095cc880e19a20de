"""The synchronous executor: the driver's loop in the calling thread, nothing else.

Everything, blocking reads and flushes included, runs inline; so it cannot bound a blocking call
by ``stop_timeout`` (the threads and async executors can), and it cannot run ``async`` cycles (a
TypeError names them); anyio-based sources and sinks run through an ``AsyncBridge``.

Offloaded steps (``pumpcore/_link.py`` rule 4) complete before ``offload`` returns: a blocking
processor is called inline, an ``async def`` one is awaited on the bridge's loop thread while this
thread waits. One call at a time, so ``async_concurency_limit`` is never reached; outputs and
statistics are those of the other executors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from pumpcore import Clock, Context, Pipeline, TriggerSource
from pumpcore.lowlevel import Driver, Offload

from ._blocking import BlockingIO, check_blocking, report_cycle_failure
from ._failures import FailureLog
from ._report import RunReport
from ._signals import stop_signals

log = logging.getLogger("pumpcore.executors")

# While signal handlers are installed, a real sleep is cut in slices this long so that a stop
# request is seen promptly (a signal handler that only sets a flag does not end time.sleep).
_SLICE = 0.1


def run_cycle(source: TriggerSource) -> None:
    """Run one blocking ``cycle``; a failure goes through the pipeline's error policy."""
    try:
        source.cycle()
    except Exception as exc:
        report_cycle_failure(source, exc)


def _direct(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class _SyncLink:
    """The ``ExecutorLink`` of the sync executor: everything happens in the calling thread."""

    def __init__(self, io: BlockingIO) -> None:
        self.io = io

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
                result = self.io.bridge.call(call.function, call.context, call.event)
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
) -> RunReport:
    """Drive ``pipelines`` until they finish or ``stop_after`` seconds of ``clock`` pass."""
    driver = Driver(pipelines, batch_size=batch_size)
    check_blocking(driver, "sync")
    failures = FailureLog(driver.pipelines)
    io = BlockingIO(driver, _direct)
    link = _SyncLink(io)
    for pipeline in driver.pipelines:
        pipeline.set_timer(time.perf_counter)
        pipeline.Executor = link
    stop = [False]

    def request_stop() -> None:
        stop[0] = True

    try:
        with stop_signals(request_stop, handle_signals) as polling:
            io.open()
            try:
                _loop(driver, io, clock, stop_after, stop, polling)
            finally:
                report = io.shutdown(clock.time())
        return report
    finally:
        failures.detach()
        for pipeline in driver.pipelines:
            pipeline.Executor = None


def _loop(
    driver: Driver,
    io: BlockingIO,
    clock: Clock,
    stop_after: float | None,
    stop: list[bool],
    polling: bool,
) -> None:
    start = clock.time()
    deadline = None if stop_after is None else start + stop_after
    driver.start(start)
    while not stop[0]:
        now = clock.time()
        if deadline is not None and now >= deadline:
            break
        work = driver.step(now)
        for trigger, sources in work.cycles:
            for source in sources:
                if source.Pipeline is not None and source.Pipeline.is_ready():
                    run_cycle(source)
            driver.cycle_done(trigger, clock.time())
        for io_source in work.reads:
            io.read(io_source, clock.time)
        if driver.commit_due(idle=not work.progressed):
            io.commit()
        if work.progressed:
            continue
        if driver.finished():
            break
        wake = driver.next_wake()
        if wake is None:
            if deadline is None:
                break  # nothing can ever happen again in this thread
            wake = deadline
        elif deadline is not None:
            wake = min(wake, deadline)
        if polling and not clock.is_virtual:
            wake = min(wake, clock.time() + _SLICE)
        clock.sleep_until(wake)
