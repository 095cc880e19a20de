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
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from .._component import Context, Emitted, Processor
from .._config import ConfigRule, positive
from .._delivery import Held

if TYPE_CHECKING:
    from .._pipeline import Pipeline
    from ..trigger import Trigger


class Analyzer(Processor):
    """The base of analyzers: ``predicate`` → ``evaluate`` per event, ``analyze`` on time.

    Config:
        analyze_period: seconds between analyses when ``analyze_on_clock`` (default 60).

    Args:
        analyze_on_clock: run ``analyze`` every ``analyze_period`` seconds of pipeline time.
        trigger: run ``analyze`` whenever this trigger fires (started at the first tick).

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

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"analyze_period": 60}
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {"analyze_period": positive()}

    AnalyzePeriod: float

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        analyze_on_clock: bool = False,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        trigger: Trigger | None = None,
    ) -> None:
        self.AnalyzeOnClock = analyze_on_clock
        self.Trigger = trigger
        self._next_analyze: float | None = None
        #: Events ``analyze`` or a closing window produced, emitted at the next tick.
        self._pending: list[tuple[Context, Any] | Held] = []
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        """Read ``analyze_period``."""
        self.AnalyzePeriod = float(self.Config["analyze_period"])

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
        """Run the analyses that are due at ``now``; pass on what waits (rule 2)."""
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
