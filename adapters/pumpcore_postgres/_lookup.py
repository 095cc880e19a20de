"""PostgreSQLLookupProvider: a lookup's table from a query, reloaded on each refresh."""

from __future__ import annotations

from typing import Any

from psycopg import sql
from psycopg.rows import dict_row
from pumpcore_sql._lookup import SQLLookupProvider

from ._connection import PostgreSQLConnection, table_identifier


class PostgreSQLLookupProvider(SQLLookupProvider[PostgreSQLConnection]):
    """Loads ``key`` → row for a ``pumpcore.lookup`` lookup (BSPump's ``PostgreSQLLookup``):
    the lookup is the cache, its ``refresh_period`` the refresh.

    Each load opens a connection (a server that went away costs that load only: the lookup
    keeps its table and counts the failure) and answers None (unchanged) when the rows are
    those of the previous load, so a frequent refresh replaces nothing needlessly.

    Args:
        connection: where to query.
        table: the table read whole (``SELECT *``), unless ``query`` is given.
        key: the column whose value is the lookup's key.
        value: a column whose value is the lookup's value; None: the whole row as a dict.
        query: the SELECT to run instead of reading ``table``; it must return ``key``.

    Example:
        >>> provider = PostgreSQLLookupProvider(
        ...     PostgreSQLConnection(config={"db": "test"}), table="countries", key="code"
        ... )
        >>> provider.key
        'code'
    """

    def _select(self, table: str, query: str) -> sql.SQL | sql.Composed:
        return (
            sql.SQL(query) if query else sql.SQL("SELECT * FROM {}").format(table_identifier(table))
        )

    def _rows(self) -> list[dict[str, Any]]:
        with self.connection.connect() as conn:
            with conn.cursor(row_factory=dict_row) as cursor:
                cursor.execute(self._query)
                rows = cursor.fetchall()
            conn.rollback()
        return rows
