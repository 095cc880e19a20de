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

import contextlib
import datetime
import decimal
import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import orjson
import pymysql
from pumpcore_sql._sink import SQLSink, SQLSinkStatistics, no_savepoint

from ._connection import MySQLConnection, is_server_gone, quote

if TYPE_CHECKING:
    from pymysql.cursors import Cursor

__all__ = ("MySQLSink", "SQLSinkStatistics")

log = logging.getLogger("pumpcore.mysql")

_REFUSED = (pymysql.err.DataError, pymysql.err.IntegrityError)
_SCALARS = (
    str, bytes, bytearray, int, float, decimal.Decimal,
    datetime.date, datetime.time, datetime.timedelta,
)  # fmt: skip


class MySQLSink(SQLSink[MySQLConnection, "pymysql.Connection[Any]"]):
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

    _log = log
    _driver_error = pymysql.err.Error

    def apply_config(self) -> None:
        super().apply_config()
        columns = ", ".join(map(quote, self.Columns))
        marks = ", ".join(["%s"] * len(self.Columns))
        insert = f"INSERT INTO {quote(self.Table)} ({columns}) VALUES ({marks})"
        if self.UpsertKey:
            rest = [c for c in self.Columns if c not in self.UpsertKey] or list(self.UpsertKey)
            updates = ", ".join(f"{quote(c)} = VALUES({quote(c)})" for c in rest)
            insert += f" ON DUPLICATE KEY UPDATE {updates}"
        self._insert_sql = insert

    def _adapt(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
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

    def _connect(self) -> pymysql.Connection[Any]:
        return self.connection.connect()

    def _is_open(self, conn: pymysql.Connection[Any]) -> bool:
        return bool(conn.open)

    def _close(self, conn: pymysql.Connection[Any]) -> None:
        conn.close()

    def _server_gone(self, exc: BaseException) -> bool:
        return is_server_gone(exc)

    def _refused(self, exc: BaseException) -> bool:
        return isinstance(exc, _REFUSED)

    @contextlib.contextmanager
    def _transaction(self, conn: pymysql.Connection[Any]) -> Iterator[Cursor]:
        conn.begin()
        with conn.cursor() as cursor:
            yield cursor
        conn.commit()

    @contextlib.contextmanager
    def _batch_savepoint(self, conn: pymysql.Connection[Any], cursor: Cursor) -> Iterator[None]:
        cursor.execute("SAVEPOINT pumpcore_batch")
        try:
            yield
        except _REFUSED:
            # Earlier chunks of a long executemany may be in: undo the batch, then isolate.
            cursor.execute("ROLLBACK TO SAVEPOINT pumpcore_batch")
            raise

    def _row_savepoint(self, conn: pymysql.Connection[Any]) -> AbstractContextManager[None]:
        return no_savepoint()  # a refused statement undoes itself

    def _bulk(
        self, conn: pymysql.Connection[Any], cursor: Cursor, rows: list[tuple[Any, ...]]
    ) -> None:
        cursor.executemany(self._insert_sql, rows)

    def _insert(self, cursor: Cursor, row: tuple[Any, ...]) -> None:
        cursor.execute(self._insert_sql, row)

    def _error_text(self, exc: Exception) -> str:
        return " ".join(map(str, exc.args)) or type(exc).__name__

    def _dead_letter_insert(self, cursor: Cursor, error: str, event: str) -> None:
        cursor.execute(
            f"INSERT INTO {quote(self._dead_letter)} (sink, error, event) VALUES (%s, %s, %s)",
            (self.Id, error, event),
        )
