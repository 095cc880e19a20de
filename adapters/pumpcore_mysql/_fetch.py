"""MySQLKeyFetcher: one row per key from MySQL/MariaDB, for a ``pumpcore.lookup.KeyLookup``."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pymysql
import pymysql.cursors

from ._connection import MySQLConnection, is_server_gone, quote


class MySQLKeyFetcher:
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

    def __init__(
        self,
        connection: MySQLConnection,
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
        self._query = query or f"SELECT * FROM {quote(table)} WHERE {quote(key)} = %s LIMIT 1"
        self._lock = threading.Lock()
        self._conn: pymysql.Connection[Any] | None = None

    def fetch(self, key: Any) -> Any:
        """The row (or ``value`` column) for ``key``, or None when there is none.

        Raises:
            pymysql.err.Error: the server is gone or refused the query.
            KeyError: the row has no ``value`` column.
        """
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
        if row is None:
            return None
        return row if self.value is None else row[self.value]

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(pymysql.err.Error):  # already closed by the failure
                conn.close()

    def close(self) -> None:
        """Close the connection (the next fetch opens a new one)."""
        with self._lock:
            self._close()
