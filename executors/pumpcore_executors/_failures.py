"""Reporting failed events: the core counts them, executors tell a human.

Hard failures are logged at ERROR every time (they stop a pipeline). Soft failures are logged at
WARNING for the first ``soft_limit`` per pipeline, then only counted, so a stream of malformed
input cannot flood the log; the statistics still carry every one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pumpcore import Failure, Pipeline

log = logging.getLogger("pumpcore.failures")


class FailureLog:
    """Logs the failures of a set of pipelines while attached."""

    def __init__(self, pipelines: Iterable[Pipeline], soft_limit: int = 10) -> None:
        self._pipelines = list(pipelines)
        self._soft_limit = soft_limit
        self._soft_seen: dict[str, int] = {}
        for pipeline in self._pipelines:
            pipeline.add_failure_listener(self.report)

    def report(self, failure: Failure) -> None:
        """Log one failure: pipeline, component, event (shortened) and exception."""
        where = f"{failure.pipeline_id}.{failure.component_id}"
        event = repr(failure.event)
        if len(event) > 200:
            event = event[:200] + "…"
        if not failure.soft:
            log.error(
                "%s failed, pipeline stopped: %r on event %s",
                where, failure.exception, event, exc_info=failure.exception,
            )  # fmt: skip
            return
        seen = self._soft_seen.get(failure.pipeline_id, 0) + 1
        self._soft_seen[failure.pipeline_id] = seen
        if seen <= self._soft_limit:
            log.warning("%s dropped an event: %r on event %s", where, failure.exception, event)
            if seen == self._soft_limit:
                log.warning(
                    "%s: further dropped events are counted in its statistics, not logged",
                    failure.pipeline_id,
                )

    def detach(self) -> None:
        """Stop logging."""
        for pipeline in self._pipelines:
            pipeline.remove_failure_listener(self.report)
