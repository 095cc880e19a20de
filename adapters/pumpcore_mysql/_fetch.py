"""MySQLKeyFetcher: one row per key from MySQL/MariaDB, for a ``pumpcore.lookup.KeyLookup``."""

from __future__ import annotations

import contextlib
from typing import Any

import pymysql
import pymysql.cursors
from pumpcore_sql._fetch import SQLKeyFetcher

from ._connection import MySQLConnection, is_server_gone, quote


class MySQLKeyFetcher(SQLKeyFetcher[MySQLConnection, "pymysql.Connection[Any]"]):
    """Reads the row of one key for a ``KeyLookup`` with a parametrised query (the key is
    always a query parameter, never text in the SQL). No row answers None (the lookup caches
    the absence). Its ``fetch`` blocks; ``enrich_by_key`` runs it in a worker thread.

    One connection, in autocommit (each read sees the latest committed rows, not a
    transaction's snapshot), used by one worker thread at a time (a PyMySQL connection is not
    thread-safe: fetches are serialised); it is opened again after the server went away.
    Errors are raised, never turned into None.

    Args:
        connection: where to query.
        table: ``SELECT * FROM table WHERE key = %s LIMIT 1`` unless ``query`` is given.
        key: the column matched against the key (with ``table``).
        value: a column whose value is the answer; None: the whole row as a dict. A NULL in
            it reads as "no such key".
        query: the SELECT to run instead, with one ``%s`` for the key; its first row answers.

    Example:
        >>> fetcher = MySQLKeyFetcher(MySQLConnection(config={"db": "test"}), table="u", key="id")
        >>> fetcher.value is None
        True
    """

    def _select(self, table: str, key: str, query: str) -> str:
        return query or f"SELECT * FROM {quote(table)} WHERE {quote(key)} = %s LIMIT 1"

    def _fetch_row(self, key: Any) -> dict[str, Any] | None:
        with self._lock:
            if self._conn is None:
                self._conn = self.connection.connect(pymysql.cursors.DictCursor)
                self._conn.autocommit(True)
            try:
                with self._conn.cursor() as cursor:
                    cursor.execute(self._query, (key,))
                    row: dict[str, Any] | None = cursor.fetchone()
            except pymysql.err.Error as exc:
                if is_server_gone(exc):
                    self._close()
                raise
        return row

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(pymysql.err.Error):  # already closed by the failure
                conn.close()

    def close(self) -> None:
        """Close the connection (the next fetch opens a new one)."""
        with self._lock:
            self._close()
