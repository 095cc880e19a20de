"""PostgreSQLSink: buffers rows, writes them in one transaction per flush, commits in flush.

It is a ``BlockingSink``: ``process`` (the executor's loop thread) only turns the event into a
row and buffers it; ``flush`` (a worker thread) writes the buffer with ``COPY`` (or an
``executemany`` INSERT, or an upsert) inside one transaction and returns after the COMMIT, so the
executor acknowledges the sources' positions only for committed rows.

Rules:
1. Whose fault: an event that is not a row (not a mapping, a column missing) raises from
   ``process`` (the pipeline's error policy counts and dead-letters it). A row the server
   refuses (a ``DataError`` or ``IntegrityError``: a text in an integer column, a NULL in a NOT
   NULL one) or psycopg cannot send (a value of a type it cannot adapt) is the event's fault:
   the batch is written again row by row, each row in its own savepoint, so the good rows commit
   and each bad one is counted (``statistics().rejected``), logged and written to
   ``dead_letter_table`` when one is configured, in the same transaction. Anything else (a
   missing table, a syntax error) is the config's: ``flush`` raises and nothing is acknowledged.
2. The server gone (``OperationalError``: a lost connection, a restart) is the server's fault:
   the transaction was not committed, so ``flush`` connects again every ``reconnect_delay``
   seconds and writes the whole buffer again, for at most ``flush_timeout`` seconds, then
   raises (the run is poisoned: nothing more is acknowledged; a restart replays).
3. A connection lost during COMMIT leaves it unknown whether the rows were written: they are
   written again (at-least-once). With ``upsert_key`` the write is idempotent and a replay
   after a crash or a lost COMMIT leaves no duplicate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from pumpcore import BlockingSink, ConfigError, ConfigRule, Context, config_value_repr
from pumpcore.config import in_range, one_of

from ._connection import PostgreSQLConnection, is_server_gone, table_identifier

if TYPE_CHECKING:
    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.postgres")


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


class PostgreSQLSink(BlockingSink):
    """Writes events (mappings of column → value, or sequences in ``columns`` order) as rows of
    ``table`` (see the module's rules).

    ``dict`` and ``list`` values are written as ``jsonb``.

    Args:
        connection: where to write.

    Config:
        table: the table, ``name`` or ``schema.name``. Required.
        columns: the columns written, comma separated. Required.
        method: ``copy`` (``COPY FROM STDIN``, the fastest) or ``insert`` (``executemany``).
            ``upsert_key`` implies an INSERT.
        upsert_key: the columns of a unique key, comma separated: rows whose key exists update
            it (``ON CONFLICT ... DO UPDATE``), so a replayed row is no duplicate.
        dead_letter_table: where rows the server refuses go (created if absent: ``at``,
            ``sink``, ``error``, ``event`` as jsonb); empty: they are only counted and logged.
        flush_timeout: seconds a flush keeps reconnecting to a server gone before it raises.

    Example:
        >>> sink = PostgreSQLSink(
        ...     connection=PostgreSQLConnection(config={"db": "test"}),
        ...     config={"table": "prices", "columns": "day, usd", "upsert_key": "day"},
        ... )
        >>> sink.Columns, sink.UpsertKey
        (('day', 'usd'), ('day',))
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "table": "",
        "columns": "",
        "method": "copy",
        "upsert_key": "",
        "dead_letter_table": "",
        "flush_timeout": 60.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "method": one_of("copy", "insert"),
        "flush_timeout": in_range(0, 86400),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        connection: PostgreSQLConnection,
    ) -> None:
        self.connection = connection
        self._rows: list[tuple[Any, ...]] = []
        self._conn: psycopg.Connection[Any] | None = None
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
        self._copy = config["method"] == "copy" and not self.UpsertKey
        table, columns = (
            table_identifier(self.Table),
            sql.SQL(", ").join(map(sql.Identifier, self.Columns)),
        )
        self._copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(table, columns)
        insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            table, columns, sql.SQL(", ").join(sql.Placeholder() * len(self.Columns))
        )
        if self.UpsertKey:
            rest = [c for c in self.Columns if c not in self.UpsertKey]
            conflict = sql.SQL(", ").join(map(sql.Identifier, self.UpsertKey))
            action: sql.Composable
            if rest:
                updates = sql.SQL(", ").join(
                    sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in rest
                )
                action = sql.SQL("DO UPDATE SET {}").format(updates)
            else:
                action = sql.SQL("DO NOTHING")
            insert = sql.SQL("{} ON CONFLICT ({}) {}").format(insert, conflict, action)
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
            if isinstance(value, dict | list):  # rare: the slow path only then
                return tuple(Jsonb(v) if isinstance(v, dict | list) else v for v in values)
        return values

    def process(self, context: Context, event: Any) -> None:
        """Buffer the event's row for the next flush (rule 1: a bad event raises here)."""
        self._rows.append(self.row(context, event))

    def open(self) -> None:
        """Connect, and create the dead-letter table if one is configured and absent."""
        self._conn = self.connection.connect()
        if self._dead_letter:
            with self._conn.transaction():
                self._conn.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} (at timestamptz NOT NULL DEFAULT now(), "
                        "sink text NOT NULL, error text NOT NULL, event jsonb)"
                    ).format(table_identifier(self._dead_letter))
                )

    def flush(self) -> None:
        """Write and commit every buffered row (rules 1-3).

        Raises:
            psycopg.Error: the server stayed gone for ``flush_timeout`` seconds, or the write
                failed for a reason not the rows' (a missing table, a syntax error).
        """
        if not self._rows:
            return
        deadline = time.monotonic() + self._flush_timeout
        while True:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self.connection.connect()
                written, rejected = self._write(self._conn, self._rows)
            except Exception as exc:
                if not is_server_gone(exc):
                    self._discard_connection()
                    raise
                self._discard_connection()
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

    def _write(self, conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> tuple[int, int]:
        """One transaction: all rows at once, or row by row when the server refuses some."""
        with conn.transaction():
            try:
                with conn.transaction():  # a savepoint: a refused batch leaves the rest usable
                    self._bulk(conn, rows)
                return len(rows), 0
            except psycopg.Error as exc:
                if not _refused(exc):
                    raise
            written = rejected = 0
            with conn.cursor() as cursor:
                for row in rows:
                    try:
                        with conn.transaction():
                            cursor.execute(self._insert_sql, row)
                        written += 1
                    except psycopg.Error as exc:
                        if not _refused(exc):
                            raise
                        rejected += 1
                        self._reject(cursor, row, exc)
            return written, rejected

    def _bulk(self, conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> None:
        with conn.cursor() as cursor:
            if self._copy:
                with cursor.copy(self._copy_sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(self._insert_sql, rows)

    def _reject(self, cursor: psycopg.Cursor[Any], row: tuple[Any, ...], exc: Exception) -> None:
        """Rule 1: count, log (the error, not the values), dead-letter a refused row."""
        error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.warning("%s: the server refused a row: %s", self.Id, error)
        if not self._dead_letter:
            return
        values = {
            c: (v.obj if isinstance(v, Jsonb) else v)
            for c, v in zip(self.Columns, row, strict=True)
        }
        event = orjson.dumps(values, default=str).decode()
        cursor.execute(
            sql.SQL("INSERT INTO {} (sink, error, event) VALUES (%s, %s, %s::jsonb)").format(
                table_identifier(self._dead_letter)
            ),
            (self.Id, error, event),
        )

    def _discard_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                log.debug("%s: closing a broken connection failed", self.Id, exc_info=True)

    def close(self) -> None:
        """Disconnect. Rows still buffered (the last flush failed) were never acknowledged."""
        self._rows.clear()
        self._discard_connection()


def _refused(exc: psycopg.Error) -> bool:
    """The row's fault (rule 1): the server refused its values, or one of them cannot be sent
    (a client-side ``ProgrammingError``, no SQLSTATE: "cannot adapt type")."""
    if isinstance(exc, psycopg.DataError | psycopg.IntegrityError):
        return True
    return isinstance(exc, psycopg.ProgrammingError) and exc.sqlstate is None


def _names(value: str) -> tuple[str, ...]:
    """Comma-separated names, stripped, empty ones dropped."""
    return tuple(name.strip() for name in str(value).split(",") if name.strip())
