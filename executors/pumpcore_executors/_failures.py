"""Reporting failed events: the core counts them, executors tell a human.

Hard failures are logged at ERROR (they stop a pipeline), soft ones at WARNING, but at most
``lines_per_interval`` lines per (pipeline, component) in any ``interval`` seconds, so a stream of
malformed input cannot flood the log while a second broken component still gets heard. What is
not logged is summed up in one line, "N more failures of P.C in the last T s", when the next
failure of that component comes after the interval (so a steady flood gives one summary per
interval) and when the log is detached at the end of the run; the statistics count every one.

Reporting never raises: a listener that raised would escape the pipeline's failure handling and
take the run down over a log line. Events and exceptions whose ``repr`` raises are shown as
``<unrepresentable Foo: ValueError(...)>``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from pumpcore import Failure, Pipeline
from pumpcore.lowlevel import RateLimit, Window

log = logging.getLogger("pumpcore.failures")

_REPR_LIMIT = 200


def safe_repr(obj: object, limit: int = _REPR_LIMIT) -> str:
    """``repr(obj)`` shortened to ``limit`` characters, or a placeholder when ``repr`` raises."""
    try:
        text = repr(obj)
    except Exception as exc:
        try:
            why = repr(exc)
        except Exception:
            why = type(exc).__name__
        text = f"<unrepresentable {type(obj).__name__}: {why}>"
    return text if len(text) <= limit else text[:limit] + "…"


class FailureLog:
    """Logs the failures of a set of pipelines while attached (see the module docstring).

    Args:
        pipelines: the pipelines to listen to.
        lines_per_interval: failures logged per (pipeline, component) in each interval.
        interval: seconds.
        clock: a monotonic clock in seconds (injectable for tests).
    """

    def __init__(
        self,
        pipelines: Iterable[Pipeline],
        *,
        lines_per_interval: int = 10,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pipelines = list(pipelines)
        self._lines = lines_per_interval
        self._interval = interval
        self._clock = clock
        self._limit = RateLimit(lines_per_interval, interval)
        for pipeline in self._pipelines:
            pipeline.add_failure_listener(self.report)

    def report(self, failure: Failure) -> None:
        """Log one failure: pipeline, component, event (shortened) and exception; or count it
        toward the component's next summary line once its interval has its lines."""
        try:
            self._report(failure)
        except Exception:  # a logging filter or the clock raised: the run goes on regardless
            with contextlib.suppress(Exception):
                log.exception("cannot report a failure of pipeline %s", failure.pipeline_id)

    def _report(self, failure: Failure) -> None:
        now = self._clock()
        key = (failure.pipeline_id, failure.component_id)
        admitted, window, ended = self._limit.admit(key, now, hard=not failure.soft)
        if ended is not None:
            self._summarize(key, ended, now)
        if not admitted:
            return
        where = f"{failure.pipeline_id}.{failure.component_id}"
        exception, event = safe_repr(failure.exception), safe_repr(failure.event)
        more = (
            f" (further failures of {where} in the next {self._interval:g} s are summed up)"
            if window.admitted == self._lines
            else ""
        )
        if failure.soft:
            log.warning("%s dropped an event: %s on event %s%s", where, exception, event, more)
        else:
            log.error(
                "%s failed, pipeline stopped: %s on event %s%s",
                where, exception, event, more, exc_info=failure.exception,
            )  # fmt: skip

    def _summarize(self, key: Any, window: Window, now: float) -> None:
        if not window.suppressed:
            return
        log.log(
            logging.ERROR if window.suppressed_hard else logging.WARNING,
            "%d more failures of %s.%s in the last %.1f s (counted in its statistics)",
            window.suppressed, key[0], key[1], now - window.start,
        )  # fmt: skip

    def detach(self) -> None:
        """Stop logging, after summing up the failures not logged yet."""
        for pipeline in self._pipelines:
            pipeline.remove_failure_listener(self.report)
        with contextlib.suppress(Exception):  # as in report: never take the run down
            now = self._clock()
            for key, window in self._limit.windows.items():
                self._summarize(key, window, now)
        self._limit.windows.clear()
