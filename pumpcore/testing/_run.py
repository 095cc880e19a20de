"""Run processors and pipelines over lists, with no executor: what users' unit tests call."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from .._component import Context, Sink
from .._pipeline import Failure, Pipeline, Step
from .._statistics import PipelineStatistics


class _CollectSink(Sink):
    def __init__(self) -> None:
        super().__init__(id="run_chain:collect")
        self.Events: list[Any] = []

    def process(self, context: Context, event: Any) -> None:
        self.Events.append(event)


def run_chain(
    processors: Sequence[Step],
    events: Iterable[Any],
    context: Mapping[str, Any] | None = None,
    *,
    now: float = 0.0,
) -> list[Any]:
    """Pass events through processors and return what comes out, in order.

    Each event gets its own copy of ``context``. Generators and aggregators work; what they still
    hold is flushed at the end (at time ``now``). The first exception a processor raises is
    re-raised as it was, so a test sees exactly what went wrong. Blocking processors
    (``@pumpcore.blocking``) run inline; an ``async def`` processor needs an executor, so it
    raises TypeError naming it (run it with ``pumpcore_executors.run`` instead).

    Example:
        >>> def double(context, event):
        ...     return event * 2
        >>> run_chain([double], [1, 2])
        [2, 4]
    """
    pipeline = Pipeline("run_chain")
    sink = _CollectSink()
    for processor in processors:
        pipeline.append_processor(processor)
    pipeline.append_processor(sink)
    pipeline.tick(now)
    template = dict(context or {})
    for event in events:
        pipeline.process_pairs([(dict(template), event)])
        if pipeline.last_error is not None:
            raise pipeline.last_error.exception
    pipeline.stop(now)
    if pipeline.last_error is not None:
        raise pipeline.last_error.exception
    return sink.Events


@attrs.frozen
class PipelineRun:
    """What ``run_pipeline`` saw.

    Attributes:
        outputs: events that reached the sink, in order.
        statistics: the pipeline's counters after the run.
        failures: every failed event, in order.
        unprocessed: events not taken because a hard error stopped the pipeline.
    """

    outputs: list[Any]
    statistics: PipelineStatistics
    failures: list[Failure]
    unprocessed: list[Any]


def run_pipeline(
    pipeline: Pipeline, events: Sequence[Any], *, now: float = 0.0, stop: bool = True
) -> PipelineRun:
    """Feed ``events`` into a built pipeline (each with a fresh context) and report the result.

    The pipeline's own sink still receives every event; ``outputs`` is a copy of what it took.
    With ``stop`` the pipeline is stopped afterwards, flushing what components hold. As in
    ``run_chain``, blocking processors run inline and async ones raise TypeError.

    Example:
        >>> from pumpcore.common import NullSink
        >>> p = Pipeline("P")
        >>> p.build([], lambda context, event: event + 1, NullSink())
        >>> run_pipeline(p, [1, 2]).outputs
        [2, 3]
    """
    outputs: list[Any] = []
    failures: list[Failure] = []
    pipeline.set_sink_tap(lambda context, event: outputs.append(event))
    pipeline.add_failure_listener(failures.append)
    try:
        pipeline.tick(now)
        taken = pipeline.process_events(events)
        if stop and not pipeline.is_stopped():
            pipeline.stop(now)
    finally:
        pipeline.set_sink_tap(None)
        pipeline.remove_failure_listener(failures.append)
    return PipelineRun(outputs, pipeline.statistics(), failures, list(events[taken:]))
