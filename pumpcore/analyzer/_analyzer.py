"""Analyzer: events pass through unchanged while ``evaluate`` records them; ``analyze`` reads
what was recorded on a period or a trigger (BSPump's ``Analyzer``).

Rules:
1. ``process`` returns the event it was given: an analyzer observes, it does not transform.
   ``predicate`` says whether ``evaluate`` sees the event at all.
2. ``analyze()`` returns the events it wants passed on (anomalies, reports) or None; they go
   on from the analyzer's position with a fresh ``{}`` context.
3. Time is the pipeline's: with ``analyze_on_clock`` the analysis runs when the pipeline's time
   reaches each point of a grid of ``analyze_period`` seconds; with ``trigger`` (any
   ``pumpcore.trigger`` trigger: periodic, cron, pub/sub) whenever it fires. The analyzer never
   reads a clock.
4. What an analyzer emits later from state built out of events holds those events' origins
   (``pumpcore.lowlevel.Held``), so their source positions wait for it (window analyzers).
5. Snapshots: an analyzer with state (windows, sessions) hands ``snapshot()`` (plain data) to
   ``snapshot_output`` every ``snapshot_period`` seconds and at stop, *under the origins its
   state holds*, then lets go of them. An output that keeps events durably the at-least-once
   way (``InternalSource.put`` of a pipeline whose sink writes a file) holds those origins
   until the snapshot is written, so a source position is acknowledged once the window using
   it was emitted *or* a snapshot containing it is durable. A restarted pump ``restore``s the
   latest snapshot and the sources replay only what no snapshot covers. With a snapshot output
   the stop snapshots open state instead of emitting it, so the next run continues it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from .._component import Context, Emitted, Processor, Source
from .._config import ConfigRule, at_least, positive
from .._delivery import NO_ORIGIN, Held, Origin, running

if TYPE_CHECKING:
    from .._pipeline import Pipeline
    from ..trigger import Trigger


SideOutput = Callable[[Context, Any], Any]
"""Where an analyzer also hands events (late ones, snapshots): ``(context, event)``, e.g.
``InternalSource.put`` of another pipeline (linked on first use, so it stops after this one)."""


class Analyzer(Processor):
    """The base of analyzers: ``predicate`` → ``evaluate`` per event, ``analyze`` on time.

    Config:
        analyze_period: seconds between analyses when ``analyze_on_clock`` (default 60).
        snapshot_period: seconds between snapshots to ``snapshot_output`` (0: only at stop).

    Args:
        analyze_on_clock: run ``analyze`` every ``analyze_period`` seconds of pipeline time.
        trigger: run ``analyze`` whenever this trigger fires (started at the first tick).
        snapshot_output: where snapshots go (rule 5); None: state is never snapshotted, and
            a restart rebuilds it from the replayed events its held positions guarantee.

    Example:
        >>> class CountA(Analyzer):
        ...     count = 0
        ...     def predicate(self, context, event):
        ...         return event == "a"
        ...     def evaluate(self, context, event):
        ...         self.count += 1
        >>> from pumpcore.testing import run_chain
        >>> analyzer = CountA()
        >>> run_chain([analyzer], ["a", "b", "a"]), analyzer.count
        (['a', 'b', 'a'], 2)
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"analyze_period": 60, "snapshot_period": 0.0}
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "analyze_period": positive(),
        "snapshot_period": at_least(0),
    }

    AnalyzePeriod: float

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        analyze_on_clock: bool = False,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        trigger: Trigger | None = None,
        snapshot_output: SideOutput | None = None,
    ) -> None:
        self.AnalyzeOnClock = analyze_on_clock
        self.Trigger = trigger
        self.SnapshotOutput = snapshot_output
        self._next_analyze: float | None = None
        self._next_snapshot: float | None = None
        self._linked: set[int] = set()
        #: Events ``analyze`` or a closing window produced, emitted at the next tick.
        self._pending: list[tuple[Context, Any] | Held] = []
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        """Read ``analyze_period`` and ``snapshot_period``."""
        self.AnalyzePeriod = float(self.Config["analyze_period"])
        self.SnapshotPeriod = float(self.Config["snapshot_period"])

    # ---------------------------------------------------------------- the interface

    def predicate(self, context: Context, event: Any) -> bool:
        """True when the event is worth evaluating (default: every event)."""
        return True

    def evaluate(self, context: Context, event: Any) -> None:
        """Record what the event says into the analyzed object."""

    def analyze(self) -> Iterable[Any] | None:
        """Read the analyzed object; return events to pass on (or None)."""
        return None

    def process(self, context: Context, event: Any) -> Any:
        """Evaluate the event when ``predicate`` accepts it; pass it on unchanged (rule 1)."""
        if self.predicate(context, event):
            self.evaluate(context, event)
        return event

    # ---------------------------------------------------------------- time

    def _time(self) -> float:
        return self.Pipeline.time() if self.Pipeline is not None else 0.0

    def emit_later(self, item: tuple[Context, Any] | Held) -> None:
        """Queue an event to pass on at the pipeline's next tick (``next_awake`` says so)."""
        self._pending.append(item)

    def next_awake(self) -> float | None:
        """Now when something waits to be passed on; else the next analysis."""
        if self._pending:
            return self._time()
        wakes: list[float] = []
        if self.SnapshotPeriod > 0 and self.SnapshotOutput is not None:
            if self._next_snapshot is None:
                return self._time()
            wakes.append(self._next_snapshot)
        if self.AnalyzeOnClock:
            if self._next_analyze is None:
                return self._time()  # start the grid at the first tick
            wakes.append(self._next_analyze)
        if self.Trigger is not None:
            if not self.Trigger.started:
                return self._time()
            at = self.Trigger.next_fire_at()
            if at is not None:
                wakes.append(at)
        return min(wakes) if wakes else None

    def on_tick(self, now: float) -> Emitted:
        """Run the analyses and snapshots due at ``now``; pass on what waits (rule 2)."""
        if self.SnapshotPeriod > 0 and self.SnapshotOutput is not None:
            if self._next_snapshot is None:
                self._next_snapshot = now + self.SnapshotPeriod
            elif now >= self._next_snapshot:
                self._next_snapshot = now + self.SnapshotPeriod
                self.take_snapshot()
        if self.AnalyzeOnClock:
            period = self.AnalyzePeriod
            if self._next_analyze is None:
                self._next_analyze = (math.floor(now / period) + 1) * period
            elif now >= self._next_analyze:
                self._next_analyze = (math.floor(now / period) + 1) * period
                self._run_analyze()
        trigger = self.Trigger
        if trigger is not None:
            if not trigger.started:
                trigger.start(now)
            at = trigger.next_fire_at()
            if at is not None and at <= now:
                trigger.fire(now)
                self._run_analyze()
                trigger.cycle_done(now)
        return self._take_pending()

    def _run_analyze(self) -> None:
        for event in self.analyze() or ():
            self._pending.append(({}, event))

    def _take_pending(self) -> list[tuple[Context, Any] | Held]:
        pending, self._pending = self._pending, []
        return pending

    def on_stop(self, now: float) -> Emitted:
        """Pass on what waits."""
        return self._take_pending()

    # ---------------------------------------------------------------- side outputs, snapshots

    def output(self, output: SideOutput, context: Context, event: Any) -> None:
        """Hand ``event`` to a side output; an ``InternalSource``'s pipeline is linked to this
        one on first use (throttling flows back; it stops after this one)."""
        target = getattr(output, "__self__", None)
        if id(output) not in self._linked:
            self._linked.add(id(output))
            pipeline = self.Pipeline
            if isinstance(target, Source) and target.Pipeline is not None and pipeline:
                target.Pipeline.link(pipeline)
        output(context, event)

    def snapshot(self) -> dict[str, Any]:
        """The analyzer's state as plain data (JSON-able when its keys are), for ``restore``."""
        return {}

    def restore(self, data: Mapping[str, Any]) -> None:
        """Continue from what ``snapshot`` returned (a restarted pump, before its run)."""

    def take_origins(self) -> Origin:
        """The origins the state holds, handed to the caller; the state holds none after."""
        return NO_ORIGIN

    def take_snapshot(self) -> None:
        """Hand ``{"analyzer": id, "snapshot": ...}`` to ``snapshot_output`` under the origins
        the state holds, then let go of them (rule 5)."""
        output = self.SnapshotOutput
        if output is None:
            raise RuntimeError(f"{type(self).__name__} {self.Id!r} has no snapshot_output")
        origin = self.take_origins()
        try:
            with running(origin):
                self.output(output, {}, {"analyzer": self.Id, "snapshot": self.snapshot()})
        finally:
            origin.release()
