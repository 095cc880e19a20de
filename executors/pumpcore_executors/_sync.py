"""The synchronous executor: the driver's loop in the calling thread, nothing else.

Everything, blocking reads and flushes included, runs inline; so it cannot bound a blocking call
by ``stop_timeout`` (the threads and async executors can), and it cannot run ``async`` cycles (a
TypeError names them); anyio-based sources and sinks run through an ``AsyncBridge``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from pumpcore import Clock, Pipeline, TriggerSource
from pumpcore._driver import Driver

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
    for pipeline in driver.pipelines:
        pipeline.set_timer(time.perf_counter)
    failures = FailureLog(driver.pipelines)
    io = BlockingIO(driver, _direct)
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
