"""Frozen snapshots of what a pipeline has done, with BSPump's counter names."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import attrs


@attrs.frozen
class ProcessorTiming:
    """Time spent in one component, measured on a sample of events (not on every event).

    Attributes:
        samples: how many events were timed.
        total: seconds spent on those events, by the clock the executor supplied.
    """

    samples: int
    total: float

    @property
    def mean(self) -> float:
        """Mean seconds per sampled event (0.0 before the first sample)."""
        return self.total / self.samples if self.samples else 0.0


@attrs.frozen
class PipelineStatistics:
    """A snapshot of one pipeline's counters.

    When no event is in flight, ``event_in + event_generated == event_out + event_drop + warning
    + error + event_absorbed``: every event that entered is accounted for exactly once. Inputs a
    source rejected (``rejected``) never became events, so they are outside that balance.

    Attributes:
        pipeline_id: the pipeline's id.
        event_in: events sources handed to the pipeline (BSPump's ``event.in``).
        event_out: events a sink took (``event.out``).
        event_drop: events a processor dropped by returning None (``event.drop``).
        warning: events that failed and were dropped by the soft error policy.
        error: events that failed under the hard error policy (the pipeline then stopped).
        event_generated: events created by generators and by components' tick or stop output.
        event_absorbed: events consumed by a generator (turned into its output).
        dead_letter: failed events and rejected inputs handed to the dead-letter sink (each also
            counted as a failure or in ``rejected``).
        source_error: failures of sources outside any event (a cycle raised, a connection broke).
        dead_letter_error: failed events the dead-letter sink raised on (they are counted as a
            failure all the same; only the dead letter is lost).
        rejected: inputs a source could not turn into events (undecodable, oversized, malformed:
            ``pumpcore.lowlevel.Rejected``), each dropped and dead-lettered, never in ``event_in``.
        timings: sampled time per component id.
    """

    pipeline_id: str
    event_in: int = 0
    event_out: int = 0
    event_drop: int = 0
    warning: int = 0
    error: int = 0
    event_generated: int = 0
    event_absorbed: int = 0
    dead_letter: int = 0
    source_error: int = 0
    dead_letter_error: int = 0
    rejected: int = 0
    timings: Mapping[str, ProcessorTiming] = attrs.field(factory=dict)

    @property
    def failed(self) -> int:
        """Events that raised in a component, under either policy."""
        return self.warning + self.error

    def as_dict(self) -> dict[str, Any]:
        """The counters under BSPump's metric names (``event.in``, ``event.out``, …)."""
        return {
            "event.in": self.event_in,
            "event.out": self.event_out,
            "event.drop": self.event_drop,
            "warning": self.warning,
            "error": self.error,
            "event.generated": self.event_generated,
            "event.absorbed": self.event_absorbed,
            "event.dead_letter": self.dead_letter,
            "source.error": self.source_error,
            "dead_letter.error": self.dead_letter_error,
            "event.rejected": self.rejected,
        }

    def __getitem__(self, name: str) -> Any:
        return self.as_dict()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())


@attrs.frozen
class ComponentStatistics:
    """A snapshot of one processor's (or the sink's) event counters.

    Every component balances as the pipeline does: ``event_in + event_generated == event_out +
    event_drop + warning + error + event_absorbed + in_flight``. Events leave a component into
    the next one (``event_out`` of one is ``event_in`` of the next), so summed over a pipeline's
    components ``event_drop``, ``warning``, ``error``, ``event_generated`` and
    ``event_absorbed`` are the pipeline's, the first component's ``event_in`` is the pipeline's
    and the sink's ``event_out`` is the pipeline's. Counted on the paths that leave the happy
    one (a drop, a failure, a generator); ``event_in`` and ``event_out`` are derived from them.

    Attributes:
        component_id: the processor's id.
        event_in: events that reached the component.
        event_out: events it passed on (for the sink: events it took).
        event_drop: events it dropped by returning None.
        warning: events that raised in it and were dropped by the soft error policy.
        error: events that raised in it under the hard error policy.
        event_generated: events it created: a generator's outputs, tick or stop output.
        event_absorbed: events a generator consumed (turned into its output).
        in_flight: events suspended at it (an async or blocking step), not passed on yet.
    """

    component_id: str
    event_in: int = 0
    event_out: int = 0
    event_drop: int = 0
    warning: int = 0
    error: int = 0
    event_generated: int = 0
    event_absorbed: int = 0
    in_flight: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters under BSPump's metric names (``event.in``, ``event.out``, …)."""
        return {
            "event.in": self.event_in,
            "event.out": self.event_out,
            "event.drop": self.event_drop,
            "warning": self.warning,
            "error": self.error,
            "event.generated": self.event_generated,
            "event.absorbed": self.event_absorbed,
            "event.in_flight": self.in_flight,
        }
