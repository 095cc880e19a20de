"""InfluxDBSink: events to InfluxDB 1.x as line protocol, in batches, on flush.

It is a ``BlockingSink``: ``process`` encodes the event into lines and buffers them (the
executor's loop thread); ``flush`` writes them (a worker thread). The executor acknowledges the
sources' positions only after ``flush`` returned.

Rules:
1. An event is a dict (``measurement``, ``tags``, ``fields``, ``time``) or text (lines of line
   protocol, ``str`` or UTF-8 ``bytes``). Every line gets a timestamp when buffered (the
   event's, else the current time), so that writing a line again (a retry, a split, a replay
   after a restart) overwrites the same point instead of adding one.
2. ``flush`` writes the buffer in order, in requests of at most ``batch_size`` lines and
   ``batch_max_bytes`` bytes. A 429, a 5xx or no answer is retried with backoff (the
   connection's rules).
3. A request refused with 400 or 413 (a line that does not parse, a field type conflict, a body
   too large) is split in halves, each written again, down to the lines at fault: each of those
   is counted (``statistics().dead_lettered``) and handed to the sink's ``dead_letter`` sink as
   a soft ``Failure`` (logged at WARNING without one), flushed before ``flush`` returns.
   InfluxDB 1.x writes the good lines of a refused request too ("partial write"): by rule 1
   writing them again changes nothing.
4. Any other refusal (404 database not found, 401), or no answer after every retry, makes
   ``flush`` raise ``InfluxDBError``: the lines not written stay buffered, first in line for
   the next flush, and the run acknowledges nothing more from the sources feeding this sink.
5. An event that cannot be encoded raises ``ValueError`` or ``TypeError`` from ``process``:
   the pipeline's error policy and dead-letter sink handle it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from pumpcore import BlockingSink, ConfigRule, Context, Failure, PumpError, Sink
from pumpcore.config import in_range, one_of

from ._connection import PRECISIONS, InfluxDBConnection, InfluxDBError
from ._line_protocol import encode_point, parse_line

if TYPE_CHECKING:
    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.influxdb")

# One buffered line (with its newline), and the context and event it came from.
_Line = tuple[bytes, Context, Any]


class InfluxDBLineError(PumpError):
    """InfluxDB refused one line (rule 3); what the dead-letter sink gets as the ``Failure``'s
    exception.

    Attributes:
        line: the line, as sent.
        status: the status of the request that held it alone.
    """

    def __init__(self, message: str, *, line: str, status: int) -> None:
        super().__init__(message)
        self.line = line
        self.status = status


@attrs.frozen
class InfluxDBSinkStatistics:
    """What an ``InfluxDBSink`` did so far.

    Attributes:
        requests: write requests answered.
        lines: lines written.
        dead_lettered: lines refused (rule 3).
        splits: requests refused and split (rule 3).
    """

    requests: int
    lines: int
    dead_lettered: int
    splits: int


class _GiveUp(Exception):
    def __init__(self, pending: list[_Line], error: InfluxDBError) -> None:
        super().__init__(str(error))
        self.pending = pending
        self.error = error


class InfluxDBSink(BlockingSink):
    """Writes events as points, BSPump's ``InfluxDBSink``.

    A dict event is ``{"measurement": "cpu", "tags": {"host": "a"}, "fields": {"load": 0.5},
    "time": ...}``: ``tags`` and ``time`` are optional (``measurement`` too when the config
    key is set); ``time`` is an ``int`` in the sink's ``precision``, a ``float`` of seconds
    since the epoch, or a ``datetime`` (naive: UTC). Text events are lines of line protocol.

    Args:
        connection: the server and database.
        dead_letter: a sink of its own (not the pipeline's) for lines the server refuses
            (rule 3); opened, flushed and closed by this sink.

    Config:
        measurement: the measurement of dict events that have none ("": they must).
        precision: the timestamps' unit: ``ns``, ``u``, ``ms`` or ``s``.
        batch_size: lines per request at most.
        batch_max_bytes: bytes per request at most (a longer line goes alone).
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "measurement": "",
        "precision": "ns",
        "batch_size": 5000,
        "batch_max_bytes": 8 * 1024 * 1024,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "precision": one_of(*PRECISIONS),
        "batch_size": in_range(1, 1_000_000),
        "batch_max_bytes": in_range(1024, 2**31),
    }

    def __init__(
        self,
        connection: InfluxDBConnection,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        dead_letter: Sink | None = None,
    ) -> None:
        self.Connection = connection
        self.dead_letter = dead_letter
        self._buffer: list[_Line] = []
        self._n_requests = self._n_lines = self._n_dead = self._n_splits = 0
        self._dead_this_flush = 0
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        super().apply_config()
        config = self.Config
        self._measurement = str(config["measurement"])
        self._precision = str(config["precision"])
        self._unit = PRECISIONS[self._precision]
        self._max_lines = int(config["batch_size"])
        self._max_bytes = int(config["batch_max_bytes"])

    def statistics(self) -> InfluxDBSinkStatistics:
        """A frozen snapshot of the counters."""
        return InfluxDBSinkStatistics(self._n_requests, self._n_lines, self._n_dead, self._n_splits)

    def buffered(self) -> int:
        """Lines waiting for the next flush."""
        return len(self._buffer)

    def _stamp(self, value: Any) -> int:
        """A timestamp in the sink's precision (rule 1)."""
        if value is None:
            return time.time_ns() // self._unit
        if isinstance(value, bool):
            raise ValueError("InfluxDBSink: 'time' is a bool, not a time")
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return int(value * 1_000_000_000) // self._unit
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=UTC)
            delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
            nanos = (delta.days * 86_400 + delta.seconds) * 1_000_000_000
            return (nanos + delta.microseconds * 1_000) // self._unit
        raise ValueError(f"InfluxDBSink: 'time' holds {type(value).__name__}, not a time")

    def process(self, context: Context, event: Any) -> None:
        """Encode the event into lines and buffer them (rules 1 and 5)."""
        if isinstance(event, Mapping):
            measurement = event.get("measurement") or self._measurement
            if not measurement:
                raise ValueError("InfluxDBSink: the event has no 'measurement'")
            fields = event.get("fields")
            if not isinstance(fields, Mapping):
                raise ValueError("InfluxDBSink: the event's 'fields' is not a mapping")
            line = encode_point(
                str(measurement), event.get("tags"), fields, self._stamp(event.get("time"))
            )
            self._buffer.append(((line + "\n").encode(), context, event))
            return
        if isinstance(event, bytes | bytearray):
            text = bytes(event).decode("utf-8")
        elif isinstance(event, str):
            text = event
        else:
            raise TypeError(
                f"InfluxDBSink: an event is a dict or line protocol text, not "
                f"{type(event).__name__}"
            )
        for raw in text.split("\n"):
            line = raw.rstrip("\r")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                stamped = parse_line(line).time is not None
            except ValueError:
                stamped = True  # the server will refuse it, and rule 3 dead-letters it
            if not stamped:
                line = f"{line} {self._stamp(None)}"
            self._buffer.append(((line + "\n").encode(), context, event))

    def open(self) -> None:
        """Open the dead-letter sink, if it has ``open``."""
        opener = getattr(self.dead_letter, "open", None)
        if opener is not None:
            opener()

    def flush(self) -> None:
        """Write everything buffered (rules 2-4).

        Raises:
            InfluxDBError: some lines could not be written; they stay buffered.
        """
        lines, self._buffer = self._buffer, []
        self._dead_this_flush = 0
        try:
            start = 0
            while start < len(lines):
                end, size = start, 0
                while end < len(lines) and end - start < self._max_lines:
                    size += len(lines[end][0])
                    if size > self._max_bytes and end > start:
                        break
                    end += 1
                try:
                    self._write(lines[start:end])
                except _GiveUp as give_up:
                    self._buffer = give_up.pending + lines[end:]
                    raise give_up.error from None
                start = end
        finally:
            if self._dead_this_flush and self.dead_letter is not None:
                self.dead_letter.flush()

    def _write(self, chunk: list[_Line]) -> None:
        try:
            status, message = self.Connection.write(
                b"".join(line for line, _, _ in chunk), self._precision
            )
        except InfluxDBError as exc:
            raise _GiveUp(chunk, exc) from exc
        self._n_requests += 1
        if status == 204:
            self._n_lines += len(chunk)
            return
        if status not in (400, 413):
            raise _GiveUp(
                chunk,
                InfluxDBError(
                    f"{type(self).__name__} {self.Id!r}: the server refused a write "
                    f"(status {status}): {message}",
                    path="/write",
                    attempts=1,
                    status=status,
                ),
            )
        if len(chunk) == 1:
            self._refuse(chunk[0], status, message)
            return
        self._n_splits += 1
        half = len(chunk) // 2
        self._write(chunk[:half])
        self._write(chunk[half:])

    def _refuse(self, item: _Line, status: int, message: str) -> None:
        line, context, event = item
        text = line.decode().rstrip("\n")
        exc = InfluxDBLineError(
            f"{type(self).__name__} {self.Id!r}: the server refused a line (status {status}): "
            f"{message}",
            line=text,
            status=status,
        )
        self._n_dead += 1
        if self.dead_letter is None:
            log.warning("%s (no dead-letter sink): %s", exc, text[:200])
            return
        pipeline_id = self.Pipeline.Id if self.Pipeline is not None else ""
        self.dead_letter.process(context, Failure(pipeline_id, self.Id, context, event, exc, True))
        self._dead_this_flush += 1

    def close(self) -> None:
        """Close this thread's connections and the dead-letter sink; lines still buffered (the
        last flush failed) are not written: they were never acknowledged."""
        self._buffer = []
        self.Connection.close()
        closer = getattr(self.dead_letter, "close", None)
        if closer is not None:
            closer()
