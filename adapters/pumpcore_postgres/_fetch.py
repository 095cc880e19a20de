"""PostgreSQLKeyFetcher: one row per key from PostgreSQL, for a ``pumpcore.lookup.KeyLookup``."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from ._connection import PostgreSQLConnection, is_server_gone, table_identifier


class PostgreSQLKeyFetcher:
    """Reads the row of one key for a ``KeyLookup`` with a parametrised query (the key is
    always a query parameter, never text in the SQL). No row answers None (the lookup caches
    the absence). Its ``fetch`` blocks; ``enrich_by_key`` runs it in a worker thread.

    One connection (in autocommit: a read holds no transaction open) is shared by the worker
    threads (psycopg serialises its use); it is opened again after the server went away.
    Errors are raised, never turned into None.

    Args:
        connection: where to query.
        table: ``SELECT * FROM table WHERE key = %s LIMIT 1`` unless ``query`` is given.
        key: the column matched against the key (with ``table``).
        value: a column whose value is the answer; None: the whole row as a dict. A NULL in
            it reads as "no such key".
        query: the SELECT to run instead, with one ``%s`` for the key; its first row answers.

    Example:
        >>> fetcher = PostgreSQLKeyFetcher(
        ...     PostgreSQLConnection(config={"db": "test"}), table="users", key="id"
        ... )
        >>> fetcher.value is None
        True
    """

    def __init__(
        self,
        connection: PostgreSQLConnection,
        *,
        table: str = "",
        key: str = "",
        value: str | None = None,
        query: str = "",
    ) -> None:
        if bool(table) == bool(query):
            raise ValueError(f"{type(self).__name__}: give table= (with key=) or query=, one")
        if table and not key:
            raise ValueError(f"{type(self).__name__}: table= needs key=, the column to match")
        self.connection = connection
        self.value = value
        self._query: sql.SQL | sql.Composed = (
            sql.SQL(query)
            if query
            else sql.SQL("SELECT * FROM {} WHERE {} = %s LIMIT 1").format(
                table_identifier(table), sql.Identifier(key)
            )
        )
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        with self._lock:
            if self._conn is None or self._conn.closed:
                conn = self.connection.connect()
                conn.autocommit = True
                self._conn = conn
            return self._conn

    def fetch(self, key: Any) -> Any:
        """The row (or ``value`` column) for ``key``, or None when there is none.

        Raises:
            psycopg.Error: the server is gone or refused the query.
            KeyError: the row has no ``value`` column.
        """
        conn = self._connection()
        try:
            with conn.cursor(row_factory=dict_row) as cursor:
                cursor.execute(self._query, (key,))
                row = cursor.fetchone()
        except psycopg.Error as exc:
            if is_server_gone(exc):
                self.close()
            raise
        if row is None:
            return None
        return row if self.value is None else row[self.value]

    def close(self) -> None:
        """Close the shared connection (the next fetch opens a new one)."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
