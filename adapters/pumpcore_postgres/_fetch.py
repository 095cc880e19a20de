"""PostgreSQLKeyFetcher: one row per key from PostgreSQL, for a ``pumpcore.lookup.KeyLookup``."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from pumpcore_sql._fetch import SQLKeyFetcher

from ._connection import PostgreSQLConnection, is_server_gone, table_identifier


class PostgreSQLKeyFetcher(SQLKeyFetcher[PostgreSQLConnection, "psycopg.Connection[Any]"]):
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

    def _select(self, table: str, key: str, query: str) -> sql.SQL | sql.Composed:
        if query:
            return sql.SQL(query)
        return sql.SQL("SELECT * FROM {} WHERE {} = %s LIMIT 1").format(
            table_identifier(table), sql.Identifier(key)
        )

    def _connection(self) -> psycopg.Connection[Any]:
        with self._lock:
            if self._conn is None or self._conn.closed:
                conn = self.connection.connect()
                conn.autocommit = True
                self._conn = conn
            return self._conn

    def _fetch_row(self, key: Any) -> dict[str, Any] | None:
        conn = self._connection()
        try:
            with conn.cursor(row_factory=dict_row) as cursor:
                cursor.execute(self._query, (key,))
                return cursor.fetchone()
        except psycopg.Error as exc:
            if is_server_gone(exc):
                self.close()
            raise

    def close(self) -> None:
        """Close the shared connection (the next fetch opens a new one)."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
