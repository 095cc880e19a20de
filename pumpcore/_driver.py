"""Driver: the scheduling decisions every executor shares, as a pure state machine.

An executor is a thin loop around it: ask what is due, do it (pump a source, run a trigger
source's ``cycle``, tick a pipeline), ask when to wake, wait, repeat; stop when ``finished``.
Keeping these decisions here is what makes every executor produce the same outputs.

Rules:
1. Sources of a pipeline that is not ready are never pumped and its triggers never fire: the
   executor waits for readiness instead (readiness listeners tell it when).
2. Pumping is round-robin over pipelines in the order given, sources in pipeline order, at most
   ``batch_size`` events per source per round: a busy source cannot starve the others.
3. The run is finished when every active source is done (finite sources exhausted, triggers
   finished) or blocked by a hard error, and no queue between pipelines holds an event.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence

from ._component import Source
from ._errors import ConfigError
from ._pipeline import Pipeline
from ._pump import Pump
from ._trigger_source import TriggerSource
from .trigger._base import Trigger


class Driver:
    """Decides what runs next for a set of pipelines.

    Args:
        pipelines: the pipelines to drive; they are put in one ``Pump`` if they have none.
        batch_size: the most events one ``pump`` call may take from a source.
    """

    def __init__(self, pipelines: Iterable[Pipeline] | Pump, batch_size: int = 256) -> None:
        if batch_size < 1:
            raise ConfigError(f"Driver: batch_size must be >= 1, got {batch_size!r}")
        self.batch_size = batch_size
        listed = list(pipelines)
        if not listed:
            raise ConfigError("Driver: no pipelines to run")
        pump = pipelines if isinstance(pipelines, Pump) else None
        if pump is None:
            pump = next((p.Pump for p in listed if p.Pump is not None), None) or Pump()
            for pipeline in listed:
                pump.add_pipeline(pipeline)
        self.pump = pump
        self.pipelines: tuple[Pipeline, ...] = tuple(listed)
        self._pull: list[Source] = []
        self._triggers: dict[Trigger, list[TriggerSource]] = {}
        for pipeline in self.pipelines:
            for source in pipeline.iter_sources():
                if isinstance(source, TriggerSource):
                    if not source.triggers:
                        raise ConfigError(
                            f"TriggerSource {source.locate_address()!r} has no trigger; "
                            "call .on(trigger)"
                        )
                    for trigger in source.triggers:
                        self._triggers.setdefault(trigger, []).append(source)
                else:
                    self._pull.append(source)
        self._started = False

    def start(self, now: float) -> None:
        """Start every trigger's schedule and every pipeline's time at ``now``."""
        for pipeline in self.pipelines:
            pipeline.tick(now)
        for trigger in self._triggers:
            trigger.start(now)
        self._started = True

    @property
    def triggers(self) -> Sequence[Trigger]:
        """Every trigger, each once."""
        return tuple(self._triggers)

    def sources_of(self, trigger: Trigger) -> Sequence[TriggerSource]:
        """The trigger sources a trigger runs."""
        return tuple(self._triggers.get(trigger, ()))

    def pumpable(self) -> list[Source]:
        """Sources with events ready whose pipeline is ready (rule 1)."""
        return [s for s in self._pull if s.has_pending() and _ready(s)]

    def pump_round(self) -> int:
        """Pump every pumpable source once (rule 2); return how many events were taken."""
        taken = 0
        for source in self.pumpable():
            taken += source.pump(self.batch_size)
        return taken

    def due_triggers(self, now: float) -> list[Trigger]:
        """Triggers due at ``now`` with at least one source whose pipeline is ready."""
        due = []
        for trigger, sources in self._triggers.items():
            at = trigger.next_fire_at()
            if at is not None and at <= now and any(_ready(s) for s in sources):
                due.append(trigger)
        return due

    def tick(self, now: float) -> None:
        """Let each pipeline's time-driven components (aggregator timeouts) act."""
        for pipeline in self.pipelines:
            wake = pipeline.next_awake()
            if pipeline.time() < now or (wake is not None and wake <= now):
                pipeline.tick(now)

    def next_wake(self) -> float | None:
        """The earliest moment something is scheduled; None when nothing is."""
        wakes: list[float] = []
        for trigger, sources in self._triggers.items():
            at = trigger.next_fire_at()
            if at is not None and any(_ready(s) for s in sources):
                wakes.append(at)
        for pipeline in self.pipelines:
            at = pipeline.next_awake()
            if at is not None:
                wakes.append(at)
        for source in self._pull:
            at = source.next_awake()
            if at is not None:
                wakes.append(at)
        return min(wakes) if wakes else None

    def finished(self) -> bool:
        """True when nothing is left to do (rule 3)."""
        for source in self._pull:
            if source.has_pending() and not _blocked(source):
                return False
            if not source.passive and not source.exhausted() and not _blocked(source):
                return False
        for trigger, sources in self._triggers.items():
            if not trigger.finished() and not all(_blocked(s) for s in sources):
                return False
        return True

    def stop(self, now: float) -> None:
        """Stop every pipeline (in order), flushing what components hold."""
        for pipeline in self.pipelines:
            if not pipeline.is_stopped():
                pipeline.stop(now)


def _ready(source: Source) -> bool:
    return source.Pipeline is not None and source.Pipeline.is_ready()


def _blocked(source: Source) -> bool:
    pipeline = source.Pipeline
    return pipeline is None or pipeline.is_error() or pipeline.is_stopped()


def is_async_cycle(source: TriggerSource) -> bool:
    """True when the source's ``cycle`` is an ``async def`` (it needs an async executor)."""
    return inspect.iscoroutinefunction(source.cycle)
