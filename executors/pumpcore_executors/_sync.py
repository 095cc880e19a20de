"""The synchronous executor: the driver's loop in the calling thread, nothing else."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from pumpcore import Clock, Pipeline, TriggerSource
from pumpcore._driver import Driver, is_async_cycle

from ._failures import FailureLog
from ._report import RunReport, finish

log = logging.getLogger("pumpcore.executors")


def run_cycle(source: TriggerSource) -> None:
    """Run one blocking ``cycle``; a failure goes through the pipeline's error policy."""
    try:
        source.cycle()
    except Exception as exc:
        assert source.Pipeline is not None
        soft = source.Pipeline.report_source_failure(source.Id, exc)
        log.warning(
            "cycle of %s failed (%s): %r", source.locate_address(), "soft" if soft else "hard", exc
        )


def run_sync(
    pipelines: Sequence[Pipeline],
    *,
    clock: Clock,
    stop_after: float | None,
    batch_size: int,
) -> RunReport:
    """Drive ``pipelines`` until they finish or ``stop_after`` seconds of ``clock`` pass."""
    driver = Driver(pipelines, batch_size=batch_size)
    for source in (s for t in driver.triggers for s in driver.sources_of(t)):
        if is_async_cycle(source):
            raise TypeError(
                f"{source.locate_address()}: cycle() is async; use executor='asyncio' or 'trio'"
            )
    for pipeline in driver.pipelines:
        pipeline.set_timer(time.perf_counter)
    failures = FailureLog(driver.pipelines)
    try:
        return _loop(driver, clock, stop_after)
    finally:
        failures.detach()


def _loop(driver: Driver, clock: Clock, stop_after: float | None) -> RunReport:
    start = clock.time()
    deadline = None if stop_after is None else start + stop_after
    driver.start(start)
    while True:
        now = clock.time()
        if deadline is not None and now >= deadline:
            break
        driver.tick(now)
        progressed = driver.pump_round() > 0
        for trigger in driver.due_triggers(now):
            trigger.fire(now)
            for source in driver.sources_of(trigger):
                if source.Pipeline is not None and source.Pipeline.is_ready():
                    run_cycle(source)
            trigger.cycle_done(clock.time())
            progressed = True
        if progressed:
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
        clock.sleep_until(wake)
    return finish(driver, clock.time())
