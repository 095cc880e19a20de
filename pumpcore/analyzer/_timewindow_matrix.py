"""TimeWindowMatrix: rows by key, time columns of ``resolution`` seconds (BSPump's matrix).

Rules:
1. Time slot ``k`` covers ``[k * resolution, (k + 1) * resolution)``; it lives in column
   ``k % columns``, so advancing costs one column cleared, never a copy of the matrix. The matrix
   holds the ``columns`` slots up to the *head* (the newest); ``Start`` is the head's end (BSPump:
   "now"), ``End`` the oldest slot's start.
2. The *watermark* is the clock (``clock_driven``) or the latest event time seen, minus
   ``allowed_lateness``. A slot *closes* once the watermark reaches its end: ``on_close`` gets
   it once, with the origin of the events in it; a closed slot stays readable (for sliding
   analysis) until its column is reused, but takes no more events.
3. ``get_column(ts)`` is the one way an event enters: it returns the column for ``ts``, or None
   for a *late* event (its slot closed, or older than the matrix) and an *early* one (clock
   driven: at or after ``Start``; event time: more than ``early_limit`` seconds after ``Start``,
   when set). Both are counted in ``Counters`` (BSPump's ``events.late``, ``events.early``) and
   passed to ``on_miss``; nothing is dropped uncounted. In event time an event after ``Start``
   advances the head.
4. ``allowed_lateness <= (columns - 1) * resolution``: a slot still open must be in the matrix,
   or it would leave before it closed.
5. The columns that took events hold those events' origins (``pumpcore/_delivery.py``) until
   they close: their source positions are acknowledged only after the window went on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Any

from .._delivery import NO_ORIGIN, Origin, _current
from .._errors import ConfigError
from ._cells import Backend, make_cells

_NEVER = -(1 << 62)  # before any slot: nothing closed yet
# The "last origin" of a slot whose origins were taken (a snapshot): not None (it has events),
# and never the current origin, so the next batch is held again.
_TAKEN = Origin()  # a new empty instance (tuple subclasses are not interned), not NO_ORIGIN

CloseHandler = Callable[[int, int, Origin], None]
"""``on_close(slot, column, origin)``: the slot closed; ``origin`` is now the handler's to
emit under (``Held``) or release."""

MissHandler = Callable[[str], None]
"""``on_miss(kind)``: ``"late"`` or ``"early"``, for the event being evaluated now."""


class TimeWindowMatrix:
    """Rows by key, columns by time: counts, sums or gauges per key per time slot.

    Args:
        resolution: seconds per column (slot width).
        columns: how many slots the matrix keeps (the sliding window's length).
        clock_driven: True: the head follows ``advance(now)`` (the pipeline's clock); False:
            it follows event time.
        start_time: a time in the first head slot (None: the first event or ``advance``).
        allowed_lateness: seconds after a slot's end that events for it are still taken.
        early_limit: event time only: events more than this many seconds after ``Start`` are
            early (0: no limit, any event advances the head).
        dtype: BSPump's dtype string (``'float_'``, ``'i8'``…).
        backend: ``"python"`` or ``"numpy"`` (None: the measured default, ``_cells.py``).
        id: the matrix id.

    Raises:
        ConfigError: a size or time out of range (rule 4 included), naming the matrix.

    Example:
        >>> m = TimeWindowMatrix(resolution=60, columns=3, allowed_lateness=120)
        >>> row = m.add_row("a")
        >>> column = m.get_column(125.0)
        >>> m.Array[row][column] += 1
        >>> m.Start, m.End
        (180, 0)
        >>> m.get_column(10.0) is not None, m.get_column(200.0) is not None  # event time
        (True, True)
        >>> m.get_column(1.0) is None, m.Counters["events.late"]  # slot 0 closed at 200
        (True, 1)
    """

    def __init__(
        self,
        resolution: float = 60,
        columns: int = 15,
        *,
        clock_driven: bool = False,
        start_time: float | None = None,
        allowed_lateness: float = 0.0,
        early_limit: float = 0.0,
        dtype: str = "float_",
        backend: Backend | None = None,
        id: str | None = None,
    ) -> None:
        self.Id = id if id is not None else type(self).__name__
        _check(self.Id, "resolution", resolution, resolution > 0)
        _check(self.Id, "columns", columns, isinstance(columns, int) and columns >= 1)
        _check(self.Id, "allowed_lateness", allowed_lateness, allowed_lateness >= 0)
        _check(
            self.Id,
            "allowed_lateness",
            allowed_lateness,
            allowed_lateness <= (columns - 1) * resolution,
            f"must be at most (columns - 1) * resolution = {(columns - 1) * resolution}",
        )
        _check(self.Id, "early_limit", early_limit, early_limit >= 0)
        self.Resolution = resolution
        self.Columns = columns
        self.ClockDriven = clock_driven
        self.AllowedLateness = allowed_lateness
        self.EarlyLimit = early_limit
        self.Cells = make_cells(columns, dtype, backend)
        #: The cells, ``Array[row][column]`` (a numpy array or a list of row lists); an
        #: attribute, not a property: analyzers read it for every event.
        self.Array: Any = self.Cells.Array
        #: Row index by row name (BSPump's ``Index``) and row names by index.
        self.Index: dict[Hashable, int] = {}
        self.RowNames: list[Hashable] = []
        #: BSPump's counter names: events refused as late or early.
        self.Counters = {"events.late": 0, "events.early": 0}
        self.on_close: CloseHandler | None = None
        self.on_miss: MissHandler | None = None
        self._head: int | None = None
        self._next_close = _NEVER  # the oldest slot not closed yet
        self._max_time = -math.inf  # the latest event time seen (event time)
        self._move_at = -math.inf  # from this time on, get_column takes the slow path
        # Per column: the origin its events hold, and the last origin seen (None: no events).
        self._origins: list[Origin] = [NO_ORIGIN] * columns
        self._last: list[Origin | None] = [None] * columns
        if start_time is not None:
            self._head = self._slot(start_time)
            self._next_close = self._head - columns + 1
            self._update_move_at()

    # ---------------------------------------------------------------- rows

    def add_row(self, row_name: Hashable) -> int:
        """Add a row of zeros named ``row_name``; its index."""
        index = self.Cells.add_row()
        self.Array = self.Cells.Array  # numpy's grows into a new buffer
        self.Index[row_name] = index
        self.RowNames.append(row_name)
        return index

    def get_row_index(self, row_name: Hashable) -> int | None:
        """The row's index, None when it has none."""
        return self.Index.get(row_name)

    def get_row_name(self, row_index: int) -> Hashable:
        """The name of row ``row_index``."""
        return self.RowNames[row_index]

    # ---------------------------------------------------------------- time

    @property
    def Start(self) -> float:
        """The end of the head slot (BSPump: "now"); events from here on are early or advance."""
        return math.inf if self._head is None else (self._head + 1) * self.Resolution

    @property
    def End(self) -> float:
        """The start of the oldest slot in the matrix."""
        return (
            -math.inf if self._head is None else (self._head - self.Columns + 1) * self.Resolution
        )

    @property
    def watermark(self) -> float:
        """Slots ending at or before this time are closed (rule 2)."""
        return self._next_close * self.Resolution

    def _slot(self, timestamp: float) -> int:
        return int(timestamp // self.Resolution)

    def slot_start(self, slot: int) -> float:
        """The time slot ``slot`` starts at."""
        return slot * self.Resolution

    def column_slots(self) -> list[tuple[int, int]]:
        """``(slot, column)`` of the slots in the matrix, oldest first (empty before a head)."""
        head = self._head
        if head is None:
            return []
        return [(k, k % self.Columns) for k in range(head - self.Columns + 1, head + 1)]

    def closed_slots(self) -> list[tuple[int, int]]:
        """``(slot, column)`` of the closed slots still in the matrix, oldest first."""
        return [(k, c) for k, c in self.column_slots() if k < self._next_close]

    def get_column(self, timestamp: float) -> int | None:
        """The column an event at ``timestamp`` goes into, or None when late or early (rule 3).

        The column's slot holds the current origin from now on (rule 5): call it only for an
        event that is then written into the column.
        """
        slot = int(timestamp // self.Resolution)
        if (slot < self._next_close or timestamp >= self._move_at) and not self._admit(
            timestamp, slot
        ):
            return None
        column = slot % self.Columns
        origin = _current.get()
        if origin is not self._last[column]:  # a new batch in this column: hold its marks
            self._last[column] = origin
            self._origins[column] = self._origins[column].absorb(origin)
        return column

    def _admit(self, timestamp: float, slot: int) -> bool:
        """The slow path of ``get_column``: late, early, or event time moving on."""
        if slot < self._next_close:
            return self._miss("events.late")
        if self.ClockDriven:
            if self._head is None or slot > self._head:
                return self._miss("events.early")
            return True
        head = self._head
        if head is not None and self.EarlyLimit > 0 and timestamp >= self.Start + self.EarlyLimit:
            return self._miss("events.early")
        if timestamp > self._max_time:
            self._max_time = timestamp
        self._move(self._max_time, slot if head is None or slot > head else head)
        return True

    def _miss(self, counter: str) -> bool:
        self.Counters[counter] += 1
        if self.on_miss is not None:
            self.on_miss(counter[7:])
        return False

    def advance(self, target_ts: float) -> int:
        """Clock driven: move the head to ``target_ts``'s slot and close what the watermark
        passed. Returns how many columns were added (BSPump's ``advance``)."""
        before = self._head
        head = self._slot(target_ts)
        if before is not None and head < before:
            head = before
        self._move(target_ts, head)
        return head - before if before is not None else 0

    def _move(self, time: float, head: int) -> None:
        """Close the slots the watermark ``time - allowed_lateness`` passed, then move the head."""
        target = self._slot(time - self.AllowedLateness)  # slots below it close
        old = self._head
        if old is None:
            self._next_close = max(self._next_close, head - self.Columns + 1)
        else:
            # Only slots still in the matrix can hold events (rule 4: the rest closed already).
            k = max(self._next_close, old - self.Columns + 1)
            end = min(target, old + 1)
            while k < end:
                self._next_close = k + 1  # closed before its handler looks (closed_slots)
                self._close(k)
                k += 1
            for k in range(max(old + 1, head - self.Columns + 1), head + 1):
                column = k % self.Columns
                self.Cells.clear_column(column)
                self._last[column] = None  # closed already (rule 4), or skipped by resume_after
        if target > self._next_close:
            self._next_close = target
        self._head = head
        self._update_move_at()

    def _close(self, slot: int) -> None:
        column = slot % self.Columns
        if self._last[column] is None:
            return  # no event came: nothing to emit, nothing held
        origin = self._origins[column]
        self._origins[column], self._last[column] = NO_ORIGIN, None
        if self.on_close is not None:
            self.on_close(slot, column, origin)
        else:
            origin.release()

    def close_all(self) -> None:
        """Close every slot that took events (the pipeline stops): each is handed on once."""
        head = self._head
        if head is None:
            return
        for k in range(max(self._next_close, head - self.Columns + 1), head + 1):
            self._next_close = k + 1
            self._close(k)
        self._update_move_at()

    def _update_move_at(self) -> None:
        head = self._head
        if head is None:
            self._move_at = -math.inf
            return
        start = (head + 1) * self.Resolution
        if self.ClockDriven:
            self._move_at = start
        else:
            close_at = (self._next_close + 1) * self.Resolution + self.AllowedLateness
            self._move_at = min(start, close_at)

    def next_close_at(self) -> float | None:
        """Clock driven: the clock time the oldest open slot closes; None before a head."""
        if self._head is None:
            return None
        return (self._next_close + 1) * self.Resolution + self.AllowedLateness

    def resume_after(self, window_start: float) -> None:
        """An earlier run emitted the windows up to the one starting at ``window_start`` (its
        durable output says so): their slots are closed, and replayed events for them are late
        instead of making a partial window again. Call it before the first event."""
        slot = self._slot(window_start) + 1
        for k, column in self.column_slots():
            if k < slot and self._last[column] is not None:
                # A restored snapshot's open slot the output already has: written, so closed.
                self._origins[column].release()
                self._origins[column], self._last[column] = NO_ORIGIN, None
        if slot > self._next_close:
            self._next_close = slot
        if self._head is not None and self._head < slot - 1:
            self._head = slot - 1
        self._update_move_at()

    def take_origins(self) -> Origin:
        """The origins the open slots hold, as one (each mark held once, for the caller to
        release); the slots keep their events but hold nothing until the next batch."""
        taken = NO_ORIGIN
        for column, last in enumerate(self._last):
            if last is None:
                continue
            origin = self._origins[column]
            taken = taken.absorb(origin)
            origin.release()
            self._origins[column], self._last[column] = NO_ORIGIN, _TAKEN
        return taken

    def pristine(self) -> bool:
        """True while nothing touched the matrix: no row, no head, no resume point."""
        return not self.RowNames and self._head is None and self._next_close == _NEVER

    def holds(self) -> bool:
        """True when an open slot took events (and holds their origins)."""
        return any(last is not None for last in self._last)

    # ---------------------------------------------------------------- snapshot

    def snapshot(self) -> dict[str, Any]:
        """The matrix as plain data (rows, cells, time axis, counters) for ``restore``.

        Origins are not part of it: they belong to the run that took the events.
        """
        return {
            "rows": list(self.RowNames),
            "cells": self.Cells.rows(),
            "head": self._head,
            "next_close": self._next_close,
            "max_time": self._max_time if math.isfinite(self._max_time) else None,
            "open": [last is not None for last in self._last],
            "counters": dict(self.Counters),
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Take the state ``snapshot`` returned (a pump restarting); rows keep their order."""
        self.RowNames = list(data["rows"])
        self.Index = {name: i for i, name in enumerate(self.RowNames)}
        self.Cells.load(data["cells"])
        self.Array = self.Cells.Array
        self._head = data["head"]
        self._next_close = data["next_close"]
        self._max_time = -math.inf if data["max_time"] is None else data["max_time"]
        self._last = [_TAKEN if was_open else None for was_open in data["open"]]
        self._origins = [NO_ORIGIN] * self.Columns
        self.Counters = dict(data["counters"])
        self._update_move_at()


def _check(owner: str, key: str, value: Any, ok: bool, must: str = "is out of range") -> None:
    if not ok or (isinstance(value, float) and not math.isfinite(value)):
        raise ConfigError(f"{owner}: {key} {must}, got {value!r}")
