"""What a finished run reports."""

from __future__ import annotations

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
    """

    statistics: Mapping[str, PipelineStatistics]
    errors: Mapping[str, str]


def report_of(driver: Driver) -> RunReport:
    """The report of the driver's pipelines as they are now."""
    errors = {
        p.Id: f"{p.last_error.component_id}: {p.last_error.exception!r}"
        for p in driver.pipelines
        if p.last_error is not None
    }
    return RunReport({p.Id: p.statistics() for p in driver.pipelines}, errors)
