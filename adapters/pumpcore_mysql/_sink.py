"""MySQLSink: buffers rows, writes them in one transaction per flush, commits in flush.

It is a ``BlockingSink``: ``process`` (the executor's loop thread) only turns the event into a
row and buffers it; ``flush`` (a worker thread) writes the buffer with ``executemany`` (PyMySQL
sends multi-row INSERTs) or an upsert inside one transaction and returns after the COMMIT, so
the executor acknowledges the sources' positions only for committed rows. Tables must be
transactional (InnoDB).

Rules:
1. Whose fault: an event that is not a row (not a mapping, a column missing) raises from
   ``process`` (the pipeline's error policy counts and dead-letters it). A row the server
   refuses (a ``DataError`` or ``IntegrityError`` in strict mode: a text in an integer column,
   a NULL in a NOT NULL one) is the event's fault: the batch is rolled back to a savepoint and
   written again row by row, so the good rows commit and each bad one is counted
   (``statistics().rejected``), logged and written to ``dead_letter_table`` when one is
   configured, in the same transaction. Anything else (a missing table, a syntax error) is the
   config's: ``flush`` raises and nothing is acknowledged.
2. The server gone (a lost connection, a restart, a deadlock) is the server's fault: the
   transaction was not committed, so ``flush`` connects again every ``reconnect_delay`` seconds
   and writes the whole buffer again, for at most ``flush_timeout`` seconds, then raises (the
   run is poisoned: nothing more is acknowledged; a restart replays).
3. A connection lost during COMMIT leaves it unknown whether the rows were written: they are
   written again (at-least-once). With ``upsert_key`` (``ON DUPLICATE KEY UPDATE``) the write
   is idempotent and a replay after a crash or a lost COMMIT leaves no duplicate.
"""

from __future__ import annotations

import datetime
import decimal
import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import orjson
import pymysql

from pumpcore import BlockingSink, ConfigError, ConfigRule, Context, config_value_repr
from pumpcore.config import in_range

from ._connection import MySQLConnection, is_server_gone, quote

if TYPE_CHECKING:
    from pymysql.cursors import Cursor

    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.mysql")

_REFUSED = (pymysql.err.DataError, pymysql.err.IntegrityError)
_SCALARS = (
    str, bytes, bytearray, int, float, decimal.Decimal,
    datetime.date, datetime.time, datetime.timedelta,
)  # fmt: skip


@attrs.frozen
class SQLSinkStatistics:
    """A SQL sink's counters.

    Attributes:
        written: rows committed.
        rejected: rows the server refused (rule 1), dead-lettered or dropped.
        reconnects: times the server was gone during a flush and the buffer was written again.
    """

    written: int
    rejected: int
    reconnects: int


class MySQLSink(BlockingSink):
    """Writes events (mappings of column → value, or sequences in ``columns`` order) as rows of
    ``table`` (see the module's rules).

    ``dict`` and ``list`` values are written as JSON text; values of other non-scalar types
    (a set, a tuple) are refused in ``process``.

    Args:
        connection: where to write.

    Config:
        table: the table, ``name`` or ``db.name``. Required.
        columns: the columns written, comma separated. Required.
        upsert_key: the columns of a unique key, comma separated: rows whose key exists update
            it (``ON DUPLICATE KEY UPDATE``), so a replayed row is no duplicate.
        dead_letter_table: where rows the server refuses go (created if absent: ``at``,
            ``sink``, ``error``, ``event`` as JSON text); empty: they are only counted and
            logged.
        flush_timeout: seconds a flush keeps reconnecting to a server gone before it raises.

    Example:
        >>> sink = MySQLSink(
        ...     connection=MySQLConnection(config={"db": "test"}),
        ...     config={"table": "prices", "columns": "day, usd", "upsert_key": "day"},
        ... )
        >>> sink.Columns, sink.UpsertKey
        (('day', 'usd'), ('day',))
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "table": "",
        "columns": "",
        "upsert_key": "",
        "dead_letter_table": "",
        "flush_timeout": 60.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "flush_timeout": in_range(0, 86400),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        connection: MySQLConnection,
    ) -> None:
        self.connection = connection
        self._rows: list[tuple[Any, ...]] = []
        self._conn: pymysql.Connection[Any] | None = None
        self._written = self._rejected = self._reconnects = 0
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        super().apply_config()
        config = self.Config
        owner = f"{type(self).__name__} {self.Id!r}"
        #: The table written.
        self.Table = str(config["table"])
        #: The columns written, in order.
        self.Columns = _names(config["columns"])
        #: The unique key of upserts; empty for plain inserts.
        self.UpsertKey = _names(config["upsert_key"])
        self._dead_letter = str(config["dead_letter_table"])
        self._flush_timeout = float(config["flush_timeout"])
        missing = [c for c in self.UpsertKey if c not in self.Columns]
        if missing:
            shown = config_value_repr("upsert_key", config["upsert_key"])
            raise ConfigError(
                f"{owner}: config key 'upsert_key' names columns not in 'columns' "
                f"({', '.join(self.Columns)}), got {shown}"
            )
        if len(set(self.Columns)) != len(self.Columns):
            raise ConfigError(
                f"{owner}: config key 'columns' repeats a column, got {config['columns']!r}"
            )
        if self.Pipeline is not None:
            for key in ("table", "columns"):
                if not config[key]:
                    raise ConfigError(f"{owner}: config key {key!r} is empty; give the {key}")
        columns = ", ".join(map(quote, self.Columns))
        marks = ", ".join(["%s"] * len(self.Columns))
        insert = f"INSERT INTO {quote(self.Table)} ({columns}) VALUES ({marks})"
        if self.UpsertKey:
            rest = [c for c in self.Columns if c not in self.UpsertKey] or list(self.UpsertKey)
            updates = ", ".join(f"{quote(c)} = VALUES({quote(c)})" for c in rest)
            insert += f" ON DUPLICATE KEY UPDATE {updates}"
        self._insert_sql = insert

    def statistics(self) -> SQLSinkStatistics:
        """Rows written, rejected, and reconnections so far."""
        return SQLSinkStatistics(self._written, self._rejected, self._reconnects)

    def row(self, context: Context, event: Any) -> tuple[Any, ...]:
        """The row for ``event``, in ``Columns`` order. Override it for other event shapes.

        Raises:
            KeyError: a column is missing from a mapping event.
            TypeError: the event is neither a mapping nor a sequence of ``len(Columns)``.
        """
        values: tuple[Any, ...]
        if type(event) is dict or isinstance(event, Mapping):
            try:
                values = tuple(map(event.__getitem__, self.Columns))
            except KeyError as exc:
                raise KeyError(
                    f"{type(self).__name__} {self.Id!r}: the event has no column {exc.args[0]!r}"
                ) from None
        elif isinstance(event, Sequence) and not isinstance(event, str | bytes):
            if len(event) != len(self.Columns):
                raise TypeError(
                    f"{type(self).__name__} {self.Id!r}: a row of {len(event)} values for "
                    f"{len(self.Columns)} columns"
                )
            values = tuple(event)
        else:
            raise TypeError(
                f"{type(self).__name__} {self.Id!r}: cannot write a {type(event).__name__} as a row"
            )
        for value in values:
            if value is not None and not isinstance(value, _SCALARS):  # the slow path only then
                return tuple(self._value(c, v) for c, v in zip(self.Columns, values, strict=True))
        return values

    def _value(self, column: str, value: Any) -> Any:
        """A value as PyMySQL sends it: scalars as they are, ``dict`` and ``list`` as JSON.

        Raises:
            TypeError: another type (PyMySQL would send a tuple or a set as an SQL list, so
                ``{1}`` would become ``1``: refused rather than written wrong).
        """
        if value is None or isinstance(value, _SCALARS):
            return value
        if isinstance(value, dict | list):
            return orjson.dumps(value).decode()
        raise TypeError(
            f"{type(self).__name__} {self.Id!r}: cannot write a {type(value).__name__} "
            f"to column {column!r}"
        )

    def process(self, context: Context, event: Any) -> None:
        """Buffer the event's row for the next flush (rule 1: a bad event raises here)."""
        self._rows.append(self.row(context, event))

    def open(self) -> None:
        """Connect, and create the dead-letter table if one is configured and absent."""
        self._conn = self.connection.connect()
        if self._dead_letter:
            with self._conn.cursor() as cursor:
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {quote(self._dead_letter)} ("
                    "at timestamp(6) NOT NULL DEFAULT current_timestamp(6), "
                    "sink varchar(255) NOT NULL, error text NOT NULL, event longtext)"
                )
            self._conn.commit()

    def flush(self) -> None:
        """Write and commit every buffered row (rules 1-3).

        Raises:
            pymysql.err.Error: the server stayed gone for ``flush_timeout`` seconds, or the
                write failed for a reason not the rows' (a missing table, a syntax error).
        """
        if not self._rows:
            return
        deadline = time.monotonic() + self._flush_timeout
        while True:
            try:
                if self._conn is None or not self._conn.open:
                    self._conn = self.connection.connect()
                written, rejected = self._write(self._conn, self._rows)
            except Exception as exc:
                self._discard_connection()
                if not is_server_gone(exc):
                    raise
                if time.monotonic() + self.connection.reconnect_delay > deadline:
                    raise
                self._reconnects += 1
                log.warning(
                    "%s: the server is gone (%s); writing %d rows again in %.1f s",
                    self.Id, exc, len(self._rows), self.connection.reconnect_delay,
                )  # fmt: skip
                time.sleep(self.connection.reconnect_delay)
                continue
            self._rows.clear()
            self._written += written
            self._rejected += rejected
            return

    def _write(self, conn: pymysql.Connection[Any], rows: list[tuple[Any, ...]]) -> tuple[int, int]:
        """One transaction: all rows at once, or row by row when the server refuses some."""
        conn.begin()
        written = rejected = 0
        with conn.cursor() as cursor:
            cursor.execute("SAVEPOINT pumpcore_batch")
            try:
                cursor.executemany(self._insert_sql, rows)
                written = len(rows)
            except _REFUSED:
                # Earlier chunks of a long executemany may be in: undo the batch, then isolate.
                cursor.execute("ROLLBACK TO SAVEPOINT pumpcore_batch")
                for row in rows:
                    try:
                        cursor.execute(self._insert_sql, row)  # a refused statement undoes itself
                        written += 1
                    except _REFUSED as exc:
                        rejected += 1
                        self._reject(cursor, row, exc)
        conn.commit()
        return written, rejected

    def _reject(self, cursor: Cursor, row: tuple[Any, ...], exc: Exception) -> None:
        """Rule 1: count, log (the error, not the values), dead-letter a refused row."""
        error = " ".join(map(str, exc.args)) or type(exc).__name__
        log.warning("%s: the server refused a row: %s", self.Id, error)
        if not self._dead_letter:
            return
        event = orjson.dumps(dict(zip(self.Columns, row, strict=True)), default=str).decode()
        cursor.execute(
            f"INSERT INTO {quote(self._dead_letter)} (sink, error, event) VALUES (%s, %s, %s)",
            (self.Id, error, event),
        )

    def _discard_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and conn.open:
            try:
                conn.close()
            except pymysql.err.Error:
                log.debug("%s: closing a broken connection failed", self.Id, exc_info=True)

    def close(self) -> None:
        """Disconnect. Rows still buffered (the last flush failed) were never acknowledged."""
        self._rows.clear()
        self._discard_connection()


def _names(value: str) -> tuple[str, ...]:
    """Comma-separated names, stripped, empty ones dropped."""
    return tuple(name.strip() for name in str(value).split(",") if name.strip())
