"""ThresholdAnalyzer: values per key per time slot against bounds (BSPump's), usable from
config alone.

Rules:
1. ``evaluate`` writes ``event[event_value]`` into the slot of ``event[event_attribute]``'s row
   (a gauge, BSPump's behaviour); with ``event_value`` empty it counts events instead.
2. ``analyze`` looks at the *closed* slots still in the matrix (an open slot is partial): a row
   whose values are out of bounds in at least ``anomaly_occurrence`` of them, the newest closed
   one included, raises ``alarm`` — so a burst is reported when it happens, not again at every
   later analysis while it slides out of the window.
3. Bounds: ``lower_bound`` and ``upper_bound`` (``-inf``/``inf`` for none); at least one must
   be set (``ConfigError``).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from .._component import Context
from .._config import ConfigRule, at_least
from .._errors import ConfigError
from ._cells import Backend
from ._timewindow import TimeWindowAnalyzer

if TYPE_CHECKING:
    from .._pipeline import Pipeline
    from ..trigger import Trigger


class ThresholdAnalyzer(TimeWindowAnalyzer):
    """Alarms when a key's values leave ``[lower_bound, upper_bound]`` often enough.

    ``alarm`` returns a symptom ``AnomalyManager`` understands; override it for another shape.

    Config (besides ``TimeWindowAnalyzer``'s):
        event_attribute: the key of the row, e.g. a server name.
        event_value: the value to store (empty: count the events).
        time_attribute: the event's time in seconds (default ``@timestamp``).
        lower_bound, upper_bound: the bounds (``-inf``, ``inf`` by default).
        anomaly_occurrence: closed slots out of bounds that make an alarm (default 1).
        analyze_period: seconds between analyses on the clock (default 300).

    Args:
        clock_driven, analyze_on_clock: as BSPump, True by default; in event time (reading
            historical data) pass ``clock_driven=False`` and ``analyze_on_close=True``.

    Example:
        >>> from pumpcore.testing import run_chain
        >>> bursts = ThresholdAnalyzer(clock_driven=False, analyze_on_clock=False,
        ...     analyze_on_close=True, config={"event_attribute": "route", "upper_bound": 2,
        ...     "resolution": 60, "columns": 5})
        >>> events = [{"route": "/a", "@timestamp": t} for t in (1, 2, 61, 62, 63, 121)]
        >>> [e["key"] for e in run_chain([bursts], events) if e.get("type") == "threshold"]
        ['/a']
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "event_attribute": "",
        "event_value": "",
        "time_attribute": "@timestamp",
        "lower_bound": "-inf",
        "upper_bound": "inf",
        "anomaly_occurrence": 1,
        "analyze_period": 300,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {"anomaly_occurrence": at_least(1)}

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        clock_driven: bool = True,
        analyze_on_clock: bool = True,
        analyze_on_close: bool = False,
        trigger: Trigger | None = None,
        backend: Backend | None = None,
    ) -> None:
        super().__init__(
            pipeline,
            analyze_on_clock=analyze_on_clock,
            clock_driven=clock_driven,
            id=id,
            config=config,
            trigger=trigger,
            analyze_on_close=analyze_on_close,
            backend=backend,
        )

    def apply_config(self) -> None:
        """Read the attributes and bounds."""
        super().apply_config()
        self.EventAttribute = str(self.Config["event_attribute"])
        self.EventValue = str(self.Config["event_value"])
        self.TimeAttribute = str(self.Config["time_attribute"])
        self.AnomalyOccurrence = int(self.Config["anomaly_occurrence"])
        bounds = []
        for key in ("lower_bound", "upper_bound"):
            raw = self.Config[key]
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"{type(self).__name__} {self.Id!r}: {key} {raw!r}") from None
            if math.isnan(value):
                raise ConfigError(f"{type(self).__name__} {self.Id!r}: {key} is NaN")
            bounds.append(value)
        self.Lower, self.Upper = bounds
        if self.Lower == -math.inf and self.Upper == math.inf:
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: set lower_bound or upper_bound "
                "(both are unbounded)"
            )

    def predicate(self, context: Context, event: Any) -> bool:
        """The event has the row's attribute and a time."""
        return self.EventAttribute in event and self.TimeAttribute in event

    def evaluate(self, context: Context, event: Any) -> None:
        """Store the value (or count the event) in its row and slot (rule 1)."""
        matrix = self.TimeWindow
        key = event[self.EventAttribute]
        row = matrix.get_row_index(key)
        if row is None:
            row = matrix.add_row(key)
        column = matrix.get_column(event[self.TimeAttribute])
        if column is None:
            return
        if self.EventValue:
            matrix.Array[row][column] = matrix.Cells.cast(event[self.EventValue])
        else:
            matrix.Array[row][column] += 1

    def _out(self, value: float) -> bool:
        return bool(value < self.Lower or value > self.Upper)

    def analyze(self) -> list[Any]:
        """Alarms for rows out of bounds often enough in the closed slots (rule 2)."""
        matrix = self.TimeWindow
        closed = matrix.closed_slots()
        if not closed:
            return []
        newest_slot, newest = closed[-1]
        counts: dict[int, int] = {}
        for _, column in closed:
            for row, value in enumerate(matrix.Cells.column(column)):
                if self._out(value):
                    counts[row] = counts.get(row, 0) + 1
        newest_values = matrix.Cells.column(newest)
        return [
            self.alarm(
                matrix.get_row_name(row), count, newest_values[row], matrix.slot_start(newest_slot)
            )
            for row, count in sorted(counts.items())
            if count >= self.AnomalyOccurrence and self._out(newest_values[row])
        ]

    def alarm(self, key: Hashable, count: int, value: float, timestamp: float) -> Any:
        """The event an alarm passes on: a symptom for ``AnomalyManager``."""
        return {
            "@timestamp": timestamp,
            "key": key,
            "key_dimensions": {self.EventAttribute: key},
            "type": "threshold",
            "symptom": {
                "@timestamp": timestamp,
                "value": value,
                "occurrence": count,
                # None for an open side: infinities are not JSON.
                "lower_bound": self.Lower if math.isfinite(self.Lower) else None,
                "upper_bound": self.Upper if math.isfinite(self.Upper) else None,
            },
        }
