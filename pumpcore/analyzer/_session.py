"""Sessions: a row per session key, closed after an inactivity gap (BSPump's ``SessionMatrix``
and ``SessionAnalyzer``), in event time.

Rules:
1. A session of key ``k`` is open from its first event; an event of ``k`` at ``t`` extends it
   when ``t`` is within ``session_gap`` seconds after its latest event, else it closes that
   session and opens a new one.
2. The watermark is the latest event time seen minus ``allowed_lateness``; a session whose
   latest event is ``session_gap`` or more before the watermark closes. An event whose own
   ``t + session_gap`` is at or before the watermark is late (its session would be closed):
   counted in ``Counters["events.late"]``, not stored. So is one ``session_gap`` or more
   before the first event of its key's open session, or less than ``session_gap`` after the
   latest event of the key's last closed session: it belongs to an earlier session. One
   session per key is open at a time, so sessions assume each key's events arrive in order
   within the gap; what does not fit is counted, never mis-filed.
3. A closing session is handed to ``session_closed``; its events go on holding the origins of
   the session's events, then its row is cleared and reused.
4. At stop every open session closes — unless a ``snapshot_output`` is set: the open
   sessions are then snapshotted for the next run (``Analyzer`` rule 5).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .._component import Emitted
from .._config import ConfigRule, at_least, positive
from .._delivery import NO_ORIGIN, Held, Origin, _current
from ._analyzer import Analyzer, SideOutput
from ._cells import Backend, make_cells

if TYPE_CHECKING:
    from .._pipeline import Pipeline
    from ..trigger import Trigger


class SessionMatrix:
    """Rows by session id, named numeric columns (BSPump's ``SessionMatrix``).

    Closed rows are cleared and reused by the next ``add_row``.

    Args:
        column_names: the names of the columns (``store_event``/``decode_row`` use them).
        dtype: BSPump's dtype string for every column.
        backend: ``"python"`` or ``"numpy"`` (None: the default).
        primary_name: the key ``decode_row`` puts the row's name under (BSPump's config key).
        id: the matrix id.

    Example:
        >>> m = SessionMatrix(["count", "bytes"])
        >>> row = m.add_row("alice")
        >>> m.store_event(row, {"count": 1, "bytes": 10, "other": "ignored"})
        >>> m.decode_row(row)
        {'count': 1.0, 'bytes': 10.0, 'id': 'alice'}
    """

    def __init__(
        self,
        column_names: Sequence[str] = ("count",),
        dtype: str = "float_",
        backend: Backend | None = None,
        primary_name: str = "id",
        id: str | None = None,
    ) -> None:
        self.Id = id if id is not None else type(self).__name__
        self.ColumnNames = list(column_names)
        self.Columns = {name: i for i, name in enumerate(self.ColumnNames)}
        self.PrimaryName = primary_name
        self.Cells = make_cells(len(self.ColumnNames), dtype, backend)
        self.Index: dict[Hashable, int] = {}
        self.RowNames: list[Hashable | None] = []
        #: Rows closed and free for reuse (BSPump's ``ClosedRows``).
        self.ClosedRows: list[int] = []

    @property
    def Array(self) -> Any:
        """The cells, ``Array[row][column]``."""
        return self.Cells.Array

    def add_row(self, row_name: Hashable) -> int:
        """A row for ``row_name``: a closed one reused, or a new one."""
        if self.ClosedRows:
            index = self.ClosedRows.pop()
            self.RowNames[index] = row_name
        else:
            index = self.Cells.add_row()
            self.RowNames.append(row_name)
        self.Index[row_name] = index
        return index

    def get_row_index(self, row_name: Hashable) -> int | None:
        """The row of ``row_name``, None when it has none."""
        return self.Index.get(row_name)

    def get_row_name(self, row_index: int) -> Hashable | None:
        """The name of row ``row_index`` (None once closed)."""
        return self.RowNames[row_index]

    def close_row(self, row_name: Hashable) -> bool:
        """Clear the row of ``row_name`` and free it; False when it has none."""
        index = self.Index.pop(row_name, None)
        if index is None:
            return False
        self.Cells.clear_row(index)
        self.RowNames[index] = None
        self.ClosedRows.append(index)
        return True

    def store_event(
        self, row_index: int, event: Mapping[str, Any], keys: Iterable[str] | None = None
    ) -> None:
        """Write ``event``'s values of the matrix's columns (or of ``keys``) into the row."""
        row = self.Array[row_index]
        for key in self.ColumnNames if keys is None else keys:
            column = self.Columns.get(key)
            if column is not None and key in event:
                row[column] = self.Cells.cast(event[key])

    def decode_row(self, row_index: int, keys: Iterable[str] | None = None) -> dict[str, Any]:
        """The row as a dict of its columns (or ``keys``), its name under ``PrimaryName``."""
        values = list(self.Array[row_index])
        names = self.ColumnNames if keys is None else list(keys)
        out: dict[str, Any] = {name: _plain(values[self.Columns[name]]) for name in names}
        out[self.PrimaryName] = self.RowNames[row_index]
        return out

    def snapshot(self) -> dict[str, Any]:
        """The matrix as plain data, for ``restore``."""
        return {
            "rows": list(self.RowNames),
            "cells": self.Cells.rows(),
            "closed": list(self.ClosedRows),
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        """Take the state ``snapshot`` returned."""
        self.RowNames = list(data["rows"])
        self.Index = {name: i for i, name in enumerate(self.RowNames) if name is not None}
        self.Cells.load(data["cells"])
        self.ClosedRows = list(data["closed"])


def _plain(value: Any) -> Any:
    """A numpy scalar as a Python number (JSON sinks take those)."""
    item = getattr(value, "item", None)
    return item() if item is not None else value


class SessionAnalyzer(Analyzer):
    """Sessions by key with an inactivity gap; each emitted once when it closes.

    ``evaluate`` (yours) finds the session row with ``get_session(key, timestamp)`` and writes
    into ``self.Sessions.Array[row][column]``; None means the event is late (counted).

    Config:
        session_gap: seconds of inactivity that end a session (default 1800).
        allowed_lateness: seconds the watermark trails the latest event time (default 0).
        analyze_period: see ``Analyzer``.

    Args:
        matrix: a ``SessionMatrix`` to work on (BSPump's ``matrix_id``); None: one is made
            with ``column_names`` and ``dtype``.
        analyze_on_clock, trigger, snapshot_output: see ``Analyzer``.

    Example:
        >>> from pumpcore.testing import run_chain
        >>> class Visits(SessionAnalyzer):
        ...     def evaluate(self, context, event):
        ...         row = self.get_session(event["user"], event["t"])
        ...         if row is not None:
        ...             self.Sessions.Array[row][0] += 1
        >>> visits = Visits(config={"session_gap": 10})
        >>> out = run_chain([visits], [{"user": "a", "t": 0}, {"user": "a", "t": 5},
        ...     {"user": "a", "t": 30}])
        >>> [(s["id"], s["count"], s["session_start"], s["session_end"]) for s in out[3:]]
        [('a', 2.0, 0, 5), ('a', 1.0, 30, 30)]
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"session_gap": 1800.0, "allowed_lateness": 0.0}
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "session_gap": positive(),
        "allowed_lateness": at_least(0),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        matrix: SessionMatrix | None = None,
        dtype: str = "float_",
        analyze_on_clock: bool = False,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        column_names: Sequence[str] = ("count",),
        trigger: Trigger | None = None,
        snapshot_output: SideOutput | None = None,
        backend: Backend | None = None,
    ) -> None:
        super().__init__(
            pipeline,
            analyze_on_clock=analyze_on_clock,
            id=id,
            config=config,
            trigger=trigger,
            snapshot_output=snapshot_output,
        )
        self.Sessions = (
            matrix
            if matrix is not None
            else SessionMatrix(column_names, dtype, backend, id=f"{self.Id}Matrix")
        )
        self.Counters = {"events.late": 0, "sessions.closed": 0}
        # Per open row: first and latest event time, the origin its events hold.
        self._first: dict[int, float] = {}
        self._latest: dict[int, float] = {}
        self._origins: dict[int, Origin] = {}
        self._last_origin: dict[int, Origin] = {}
        self._expiry: list[tuple[float, int, Hashable]] = []  # (latest + gap, row, key), lazy
        # The latest event of each key's last closed session, until the watermark makes it moot.
        self._closed_latest: dict[Hashable, float] = {}
        self._max_time = -math.inf

    def apply_config(self) -> None:
        """Read the gap and the lateness."""
        super().apply_config()
        self.SessionGap = float(self.Config["session_gap"])
        self.AllowedLateness = float(self.Config["allowed_lateness"])

    @property
    def watermark(self) -> float:
        """Sessions whose latest event is ``session_gap`` before this are closed (rule 2)."""
        return self._max_time - self.AllowedLateness

    def get_session(self, key: Hashable, timestamp: float) -> int | None:
        """The row of ``key``'s session that the event at ``timestamp`` belongs to (rule 1);
        None when the event is late (rule 2). The row holds the current origin from now on."""
        gap = self.SessionGap
        if timestamp + gap <= self.watermark:
            self.Counters["events.late"] += 1
            return None
        matrix = self.Sessions
        row = matrix.get_row_index(key)
        closed = self._closed_latest.get(key)
        if closed is not None:
            if closed + 2 * gap <= self.watermark:
                # Any event before closed + gap is now late by the watermark: forget it.
                del self._closed_latest[key]
            elif timestamp - closed < gap:
                self.Counters["events.late"] += 1  # the closed session's (rule 2)
                return None
        if row is not None:
            if self._first[row] - timestamp >= gap:
                self.Counters["events.late"] += 1  # an earlier session's (rule 2)
                return None
            if timestamp - self._latest[row] >= gap:
                self._close(row)
                row = None
        if row is None:
            row = matrix.add_row(key)
            self._first[row] = self._latest[row] = timestamp
            self._origins[row] = NO_ORIGIN
            heapq.heappush(self._expiry, (timestamp + gap, row, key))
        elif timestamp > self._latest[row]:
            self._latest[row] = timestamp
            heapq.heappush(self._expiry, (timestamp + gap, row, key))
        elif timestamp < self._first[row]:
            self._first[row] = timestamp
        origin = _current.get()
        if self._last_origin.get(row) is not origin:
            self._last_origin[row] = origin
            self._origins[row] = self._origins[row].absorb(origin)
        if timestamp > self._max_time:
            self._max_time = timestamp
            self._close_expired()
        return row

    def _close_expired(self) -> None:
        watermark = self.watermark
        heap = self._expiry
        while heap and heap[0][0] <= watermark:
            expiry, row, key = heapq.heappop(heap)
            current = self._latest.get(row)
            if self.Sessions.RowNames[row] != key or current is None:
                continue  # the session moved on (a later entry stands for it) or is gone
            if current + self.SessionGap == expiry:
                self._close(row)

    def session_closed(self, row: int, start: float, end: float) -> Iterable[Any]:
        """The events a closing session produces (default: its row as a dict, with
        ``session_start`` and ``session_end``, the times of its first and latest events)."""
        event = self.Sessions.decode_row(row)
        event["session_start"] = start
        event["session_end"] = end
        return [event]

    def _close(self, row: int) -> None:
        origin = self._origins.pop(row)
        start, end = self._first.pop(row), self._latest.pop(row)
        self._last_origin.pop(row, None)
        emitted = list(self.session_closed(row, start, end))
        name = self.Sessions.get_row_name(row)
        self._closed_latest[name] = end
        self.Sessions.close_row(name)
        self.Counters["sessions.closed"] += 1
        if not emitted:
            origin.release()
            return
        for _ in emitted[1:]:
            origin.hold()
        self._pending.extend(Held({}, event, origin) for event in emitted)

    def on_stop(self, now: float) -> Emitted:
        """Close every open session, oldest first, or snapshot them (rule 4)."""
        if self.SnapshotOutput is not None:
            self.take_snapshot()
        else:
            for row in sorted(self._first, key=lambda r: (self._first[r], r)):
                self._close(row)
            self._expiry.clear()
        return super().on_stop(now)

    def take_origins(self) -> Origin:
        """The origins the open sessions hold, as one; they hold none until the next batch."""
        taken = NO_ORIGIN
        for row, origin in self._origins.items():
            taken = taken.absorb(origin)
            origin.release()
            self._origins[row] = NO_ORIGIN
        self._last_origin.clear()
        return taken

    def snapshot(self) -> dict[str, Any]:
        """The open sessions as plain data, for ``restore``."""
        return {
            "matrix": self.Sessions.snapshot(),
            "sessions": [[row, self._first[row], self._latest[row]] for row in self._first],
            "max_time": self._max_time if math.isfinite(self._max_time) else None,
            "closed_latest": [[k, t] for k, t in self._closed_latest.items()],
            "counters": dict(self.Counters),
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        """Continue from a ``snapshot``."""
        self.Sessions.restore(data["matrix"])
        gap = self.SessionGap
        for row, first, latest in data["sessions"]:
            self._first[row], self._latest[row] = first, latest
            self._origins[row] = NO_ORIGIN
            heapq.heappush(self._expiry, (latest + gap, row, self.Sessions.RowNames[row]))
        self._max_time = -math.inf if data["max_time"] is None else data["max_time"]
        self._closed_latest = dict(data["closed_latest"])
        self.Counters = dict(data["counters"])
