"""What a finished run reports."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import attrs

from pumpcore import PipelineStatistics
from pumpcore.lowlevel import Driver


@attrs.frozen
class RunReport:
    """The outcome of ``pumpcore_executors.run``.

    Attributes:
        statistics: each pipeline's counters at the end, by pipeline id.
        errors: pipelines that ended stopped by a hard error, with the failure's description.
        unprocessed: per pipeline id (only those with any), events that were read by its I/O
            sources or queued in its ``InternalSource``s but never taken: the stop sequence
            drains what it can, so these are what a pipeline stopped by a hard error (or
            throttled for good) left. Their positions were not acknowledged.
    """

    statistics: Mapping[str, PipelineStatistics]
    errors: Mapping[str, str]
    unprocessed: Mapping[str, int] = attrs.field(factory=dict)


log = logging.getLogger("pumpcore.executors")


def report_of(driver: Driver) -> RunReport:
    """The report of the driver's pipelines as they are now; unprocessed events are logged."""
    errors = {
        p.Id: f"{p.last_error.component_id}: {p.last_error.exception!r}"
        for p in driver.pipelines
        if p.last_error is not None
    }
    unprocessed = driver.unprocessed()
    for pipeline_id, n in unprocessed.items():
        log.warning("%s: %d events read or queued were never processed", pipeline_id, n)
    return RunReport({p.Id: p.statistics() for p in driver.pipelines}, errors, unprocessed)
