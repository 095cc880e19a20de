"""PostgreSQLLookupProvider: a lookup's table from a query, reloaded on each refresh."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from ._connection import PostgreSQLConnection, table_identifier


class PostgreSQLLookupProvider:
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

    def __init__(
        self,
        connection: PostgreSQLConnection,
        *,
        table: str = "",
        key: str,
        value: str | None = None,
        query: str = "",
    ) -> None:
        if not table and not query:
            raise ValueError(f"{type(self).__name__}: give table= or query=")
        self.connection = connection
        self.key = key
        self.value = value
        self._query: sql.SQL | sql.Composed = (
            sql.SQL(query) if query else sql.SQL("SELECT * FROM {}").format(table_identifier(table))
        )
        self._last: dict[Any, Any] | None = None

    def load(self) -> Mapping[Any, Any] | None:
        """The table, or None when it is the same as at the previous load.

        Raises:
            psycopg.Error: the server is gone or refused the query.
            KeyError: the rows have no ``key`` (or ``value``) column.
        """
        with self.connection.connect() as conn:
            with conn.cursor(row_factory=dict_row) as cursor:
                cursor.execute(self._query)
                rows = cursor.fetchall()
            conn.rollback()
        key, value = self.key, self.value
        data = {row[key]: row if value is None else row[value] for row in rows}
        if data == self._last:
            return None
        self._last = data
        return data
