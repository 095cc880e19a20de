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

import contextlib
import logging
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from pumpcore_sql._sink import SQLSink, SQLSinkStatistics

from pumpcore import ConfigRule
from pumpcore.config import one_of

from ._connection import PostgreSQLConnection, is_server_gone, table_identifier

__all__ = ("PostgreSQLSink", "SQLSinkStatistics")

log = logging.getLogger("pumpcore.postgres")


class PostgreSQLSink(SQLSink[PostgreSQLConnection, "psycopg.Connection[Any]"]):
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
        "method": "copy",
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "method": one_of("copy", "insert"),
    }
    _log = log
    _driver_error = psycopg.Error

    def apply_config(self) -> None:
        super().apply_config()
        self._copy = self.Config["method"] == "copy" and not self.UpsertKey
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

    def _adapt(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        for value in values:
            if isinstance(value, dict | list):  # rare: the slow path only then
                return tuple(Jsonb(v) if isinstance(v, dict | list) else v for v in values)
        return values

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

    def _connect(self) -> psycopg.Connection[Any]:
        return self.connection.connect()

    def _is_open(self, conn: psycopg.Connection[Any]) -> bool:
        return not conn.closed

    def _close(self, conn: psycopg.Connection[Any]) -> None:
        conn.close()

    def _server_gone(self, exc: BaseException) -> bool:
        return is_server_gone(exc)

    def _refused(self, exc: BaseException) -> bool:
        """The row's fault (rule 1): the server refused its values, or one of them cannot be
        sent (a client-side ``ProgrammingError``, no SQLSTATE: "cannot adapt type")."""
        if isinstance(exc, psycopg.DataError | psycopg.IntegrityError):
            return True
        return isinstance(exc, psycopg.ProgrammingError) and exc.sqlstate is None

    @contextlib.contextmanager
    def _transaction(self, conn: psycopg.Connection[Any]) -> Iterator[psycopg.Cursor[Any]]:
        with conn.transaction(), conn.cursor() as cursor:
            yield cursor

    def _batch_savepoint(
        self, conn: psycopg.Connection[Any], cursor: psycopg.Cursor[Any]
    ) -> AbstractContextManager[Any]:
        return conn.transaction()  # a savepoint: a refused batch leaves the rest usable

    def _row_savepoint(self, conn: psycopg.Connection[Any]) -> AbstractContextManager[Any]:
        return conn.transaction()

    def _bulk(
        self,
        conn: psycopg.Connection[Any],
        cursor: psycopg.Cursor[Any],
        rows: list[tuple[Any, ...]],
    ) -> None:
        if self._copy:
            with cursor.copy(self._copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(self._insert_sql, rows)

    def _insert(self, cursor: psycopg.Cursor[Any], row: tuple[Any, ...]) -> None:
        cursor.execute(self._insert_sql, row)

    def _error_text(self, exc: Exception) -> str:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__

    def _dead_letter_event(self, row: tuple[Any, ...]) -> dict[str, Any]:
        return {
            c: (v.obj if isinstance(v, Jsonb) else v)
            for c, v in zip(self.Columns, row, strict=True)
        }

    def _dead_letter_insert(self, cursor: psycopg.Cursor[Any], error: str, event: str) -> None:
        cursor.execute(
            sql.SQL("INSERT INTO {} (sink, error, event) VALUES (%s, %s, %s::jsonb)").format(
                table_identifier(self._dead_letter)
            ),
            (self.Id, error, event),
        )
