"""Time drift: how far events' own times trail the pipeline's clock (BSPump's
``TimeDriftAnalyzer`` and ``TimeDriftFilter``).

The "current time" is the pipeline's (``Pipeline.time()``, the executor's clock at the latest
tick): the core reads no clock, and a virtual clock makes both testable.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from .._component import Context, Processor
from .._config import ConfigRule, at_least, positive
from ._analyzer import Analyzer

if TYPE_CHECKING:
    from .._pipeline import Pipeline


class TimeDriftAnalyzer(Analyzer):
    """Statistics of ``now - event["@timestamp"]``, published in ``Gauge`` at each analysis.

    As in BSPump, ``@timestamp`` is in milliseconds here and the gauge in seconds; events from
    the future count as ``negative`` and stay out of the statistics.

    Config:
        analyze_period: seconds between analyses (default 300).
        history_size: differences kept (the latest; default 100).
        sparse_count: evaluate one event in this many (default 1: every one).

    Example:
        >>> a = TimeDriftAnalyzer()
        >>> for ts in (-2000, -4000, 1000):  # ms; the pipeline time is 0 s here
        ...     _ = a.process({}, {"@timestamp": ts})
        >>> a.analyze()
        >>> a.Gauge["avg"], a.Gauge["max"], a.Counters
        (3.0, 4.0, {'positive': 2, 'negative': 1})
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "analyze_period": 5 * 60,
        "history_size": 100,
        "sparse_count": 1,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "history_size": at_least(1),
        "sparse_count": at_least(1),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.History: list[float] = []
        self.EventCount = 0
        self.Counters = {"positive": 0, "negative": 0}
        self.Gauge = dict.fromkeys(("avg", "median", "stddev", "min", "max"), 0.0)
        super().__init__(pipeline, analyze_on_clock=True, id=id, config=config)

    def apply_config(self) -> None:
        """Read the history size and the sparsity."""
        super().apply_config()
        self.HistorySize = int(self.Config["history_size"])
        self.SparseCount = int(self.Config["sparse_count"])

    def predicate(self, context: Context, event: Any) -> bool:
        """Events with ``@timestamp``, one in ``sparse_count``."""
        if "@timestamp" not in event:
            return False
        self.EventCount += 1
        return self.EventCount % self.SparseCount == 0

    def get_diff(self, event_timestamp: float) -> float:
        """Milliseconds from the event's time to the pipeline's."""
        return self._time() * 1000 - event_timestamp

    def evaluate(self, context: Context, event: Any) -> None:
        """Record the drift (the latest ``history_size`` are kept)."""
        diff = self.get_diff(event["@timestamp"])
        if diff < 0:
            self.Counters["negative"] += 1
            return
        self.Counters["positive"] += 1
        self.History.append(diff)
        if len(self.History) > self.HistorySize:
            del self.History[: len(self.History) - self.HistorySize]

    def analyze(self) -> None:
        """Publish the statistics of the history in seconds and start a new one."""
        history, self.History = self.History, []
        if not history:
            self.Gauge = dict.fromkeys(self.Gauge, 0.0)
            return
        self.Gauge = {
            "avg": statistics.fmean(history) / 1000,
            "median": statistics.median(history) / 1000,
            "stddev": statistics.pstdev(history) / 1000,
            "min": min(history) / 1000,
            "max": max(history) / 1000,
        }


class TimeDriftFilter(Processor):
    """Drops events whose ``@timestamp`` (seconds) is more than ``max_time_drift`` seconds
    behind the pipeline's time, and events without one; every drop is counted.

    Config:
        max_time_drift: seconds (default 60).

    Example:
        >>> f = TimeDriftFilter()
        >>> f.process({}, {"@timestamp": -100}), f.process({}, {}), f.Counters["event.drop"]
        (None, None, 1)
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"max_time_drift": 60.0}
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {"max_time_drift": positive()}

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        #: BSPump's counter names (``timedriftfilter.status``).
        self.Counters = dict.fromkeys(("event.in", "event.out", "event.drop", "timestamp.error"), 0)
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        """Read the allowed drift."""
        self.MaxTimeDrift = float(self.Config["max_time_drift"])

    def process(self, context: Context, event: Any) -> Any:
        """The event, or None when it drifted too far or has no time."""
        counters = self.Counters
        counters["event.in"] += 1
        timestamp = event.get("@timestamp")
        if timestamp is None:
            counters["timestamp.error"] += 1
            return None
        now = self.Pipeline.time() if self.Pipeline is not None else 0.0
        if now - timestamp > self.MaxTimeDrift:
            counters["event.drop"] += 1
            return None
        counters["event.out"] += 1
        return event
