"""TimeWindowAnalyzer: an analyzer over a ``TimeWindowMatrix`` (BSPump's), in event time or
clock time, emitting each window once when it closes.

Rules:
1. ``evaluate`` writes into ``self.TimeWindow`` through ``get_column`` (the matrix's rules:
   watermark, allowed lateness, late and early events counted).
2. A closed slot is handed to ``window_closed(start, end, column)``, whose events go on from
   the analyzer holding the origin of the slot's events (acknowledged once they went on); with
   ``analyze_on_close`` ``analyze()`` runs after each close too (sliding-window detection in
   event time, where the clock means nothing).
3. Late and early events still pass through (an analyzer observes); ``late_output`` /
   ``early_output`` get them too, e.g. ``InternalSource.put`` of a side pipeline.
4. Clock driven: the head follows the pipeline's time (``advance`` at each tick, and at the
   first event); event time: it follows the events.
5. At stop every slot that took events closes (its window is emitted, partial) — unless a
   ``snapshot_output`` is set: the open slots are then snapshotted, for the next run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from .._component import Context, Emitted
from .._config import ConfigRule, at_least, positive
from .._delivery import Held, Origin
from .._errors import ConfigError
from ._analyzer import Analyzer, SideOutput
from ._cells import Backend
from ._timewindow_matrix import TimeWindowMatrix

if TYPE_CHECKING:
    from .._pipeline import Pipeline
    from ..trigger import Trigger


class TimeWindowAnalyzer(Analyzer):
    """Counts, sums or gauges per key per time slot; emits each slot when it closes.

    Subclass it and write ``evaluate`` (and ``predicate``), BSPump's way::

        def evaluate(self, context, event):
            row = self.TimeWindow.get_row_index(event["key"])
            if row is None:
                row = self.TimeWindow.add_row(event["key"])
            column = self.TimeWindow.get_column(event["@timestamp"])
            if column is not None:
                self.TimeWindow.Array[row][column] += 1

    Config:
        resolution: seconds per column (default 60).
        columns: columns kept, the sliding window's length (default 15).
        allowed_lateness: seconds after a column's end that events for it are still taken
            (default 0; at most ``(columns - 1) * resolution``).
        early_limit: event time: seconds after the head's end beyond which an event is early
            instead of advancing time (default 0: no limit).
        analyze_period: see ``Analyzer``.

    Args:
        matrix: a ``TimeWindowMatrix`` to work on (BSPump's ``matrix_id``, located); None: one
            is made from the config, with id ``<analyzer id>Matrix``.
        dtype: the matrix's dtype (BSPump's dtype string).
        columns, resolution: override the config keys of the same names.
        start_time: a time in the first head slot (None: the first event or tick).
        clock_driven: the head follows the pipeline's time instead of event time.
        analyze_on_clock, trigger: see ``Analyzer``.
        analyze_on_close: run ``analyze`` after each slot closes.
        late_output, early_output: also hand late / early events there.
        snapshot_output: see ``Analyzer`` (rule 5 there).
        backend: the matrix backend, ``"python"`` or ``"numpy"`` (None: the default).
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "resolution": 60,
        "columns": 15,
        "allowed_lateness": 0.0,
        "early_limit": 0.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "resolution": positive(),
        "columns": at_least(1),
        "allowed_lateness": at_least(0),
        "early_limit": at_least(0),
    }

    TimeWindow: TimeWindowMatrix
    _shape: tuple[float, int, float, float]  # what the matrix was made with

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        matrix: TimeWindowMatrix | None = None,
        dtype: str = "float_",
        columns: int | None = None,
        analyze_on_clock: bool = False,
        resolution: float | None = None,
        start_time: float | None = None,
        clock_driven: bool = False,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        trigger: Trigger | None = None,
        analyze_on_close: bool = False,
        late_output: SideOutput | None = None,
        early_output: SideOutput | None = None,
        snapshot_output: SideOutput | None = None,
        backend: Backend | None = None,
    ) -> None:
        overrides = dict(config or {})
        if columns is not None:
            overrides["columns"] = columns
        if resolution is not None:
            overrides["resolution"] = resolution
        self.ClockDriven = clock_driven
        self.AnalyzeOnClose = analyze_on_close
        self.LateOutput = late_output
        self.EarlyOutput = early_output
        self._matrix_args: dict[str, Any] = {
            "dtype": dtype,
            "start_time": start_time,
            "backend": backend,
        }
        self._given = matrix
        self._current: tuple[Context, Any] | None = None
        super().__init__(
            pipeline,
            analyze_on_clock=analyze_on_clock,
            id=id,
            config=overrides,
            trigger=trigger,
            snapshot_output=snapshot_output,
        )

    def apply_config(self) -> None:
        """Read the config; make the matrix, again when joining a pipeline brings a config
        section that changes its shape while it is still pristine.

        Raises:
            ConfigError: the shape changed once the matrix took events or a resume point.
        """
        super().apply_config()
        self.Resolution = float(self.Config["resolution"])
        shape = (
            self.Resolution,
            int(self.Config["columns"]),
            float(self.Config["allowed_lateness"]),
            float(self.Config["early_limit"]),
        )
        current: TimeWindowMatrix | None = getattr(self, "TimeWindow", None)
        if current is not None and current is not self._given and shape != self._shape:
            if not current.pristine():
                raise ConfigError(
                    f"{type(self).__name__} {self.Id!r}: resolution, columns, allowed_lateness "
                    f"or early_limit changed to {shape!r} after the matrix took state"
                )
            current = None
        if current is None:
            self._shape = shape
            matrix = self._given
            if matrix is None:
                resolution, columns, lateness, early_limit = shape
                matrix = TimeWindowMatrix(
                    resolution=resolution,
                    columns=columns,
                    clock_driven=self.ClockDriven,
                    allowed_lateness=lateness,
                    early_limit=early_limit,
                    id=f"{self.Id}Matrix",
                    **self._matrix_args,
                )
            matrix.on_close = self._on_close
            if self.LateOutput is not None or self.EarlyOutput is not None:
                matrix.on_miss = self._on_miss
            self.TimeWindow = matrix
            # Most analyzers need neither a side output nor a clock: one flag for each event.
            self._plain = not self.ClockDriven and matrix.on_miss is None

    # ---------------------------------------------------------------- closing

    def window_closed(self, start: float, end: float, column: int) -> Iterable[Any]:
        """The events a closed slot produces (default: one dict of the non-zero rows).

        Args:
            start, end: the slot's time span.
            column: its column in ``self.TimeWindow.Array``.
        """
        matrix = self.TimeWindow
        values = matrix.Cells.column(column)
        names = matrix.RowNames
        return [
            {
                "analyzer": self.Id,
                "window_start": start,
                "window_end": end,
                "values": {names[i]: v for i, v in enumerate(values) if v},
            }
        ]

    def _on_close(self, slot: int, column: int, origin: Origin) -> None:
        start = self.TimeWindow.slot_start(slot)
        emitted = list(self.window_closed(start, start + self.TimeWindow.Resolution, column))
        if self.AnalyzeOnClose:
            emitted.extend(self.analyze() or ())
        if not emitted:
            origin.release()
            return
        for _ in emitted[1:]:
            origin.hold()  # each Held releases once
        self._pending.extend(Held({}, event, origin) for event in emitted)

    def _on_miss(self, kind: str) -> None:
        output = self.LateOutput if kind == "late" else self.EarlyOutput
        if output is not None and self._current is not None:
            context, event = self._current
            self.output(output, dict(context), event)

    # ---------------------------------------------------------------- events and time

    def process(self, context: Context, event: Any) -> Any:
        """``predicate`` → ``evaluate``; the event passes on unchanged."""
        if self.predicate(context, event):
            if self._plain:
                self.evaluate(context, event)
            else:
                self._evaluate_kept(context, event)
        return event

    def _evaluate_kept(self, context: Context, event: Any) -> None:
        """``evaluate`` with the event kept for a side output, the clock's head set first."""
        if self.ClockDriven and self.TimeWindow.Start == float("inf"):
            self.TimeWindow.advance(self._time())
        self._current = (context, event)
        try:
            self.evaluate(context, event)
        finally:
            self._current = None

    def next_awake(self) -> float | None:
        """Also when the clock closes a slot or starts one (clock driven)."""
        wake = super().next_awake()
        if self.ClockDriven:
            matrix = self.TimeWindow
            at = matrix.next_close_at()
            if at is None:
                return self._time()
            start = matrix.Start
            at = min(at, start)
            wake = at if wake is None else min(wake, at)
        return wake

    def on_tick(self, now: float) -> Emitted:
        """Clock driven: advance the matrix to ``now`` (closing slots); then the base's work."""
        if self.ClockDriven:
            self.TimeWindow.advance(now)
        return super().on_tick(now)

    def on_stop(self, now: float) -> Emitted:
        """Close every slot that took events, or snapshot them (rule 5); pass on what waits."""
        if self.SnapshotOutput is not None:
            self.take_snapshot()
        else:
            self.TimeWindow.close_all()
        return super().on_stop(now)

    # ---------------------------------------------------------------- snapshot

    def snapshot(self) -> dict[str, Any]:
        """The analyzer's state as plain data (its matrix's), for ``restore``."""
        return {"matrix": self.TimeWindow.snapshot()}

    def restore(self, data: Mapping[str, Any]) -> None:
        """Continue from a ``snapshot`` (a restarted pump)."""
        self.TimeWindow.restore(dict(data["matrix"]))

    def resume_after(self, window_start: float) -> None:
        """Recover without a snapshot: the windows up to ``window_start`` are already in the
        output (read from the sink's durable store), so the events the sources replay for them
        are late, not a second, partial window (``TimeWindowMatrix.resume_after``)."""
        self.TimeWindow.resume_after(window_start)

    def take_origins(self) -> Origin:
        """The origins the open slots hold (the matrix's ``take_origins``)."""
        return self.TimeWindow.take_origins()
