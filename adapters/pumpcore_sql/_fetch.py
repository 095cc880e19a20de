"""SQLKeyFetcher: one row per key, for a ``pumpcore.lookup.KeyLookup``."""

from __future__ import annotations

import threading
from typing import Any, Generic, TypeVar

from ._connection import SQLConnection

C = TypeVar("C", bound=SQLConnection)
DB = TypeVar("DB")


class SQLKeyFetcher(Generic[C, DB]):
    """Reads the row of one key with a parametrised query; a driver's subclass gives
    ``_select`` (the query of a table's key), ``_fetch_row`` and ``close``."""

    def __init__(
        self,
        connection: C,
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
        self._query = self._select(table, key, query)
        self._lock = threading.Lock()
        self._conn: DB | None = None

    def _select(self, table: str, key: str, query: str) -> Any:
        """``query``, or ``SELECT * FROM table WHERE key = %s LIMIT 1`` in the dialect."""
        raise NotImplementedError

    def _fetch_row(self, key: Any) -> dict[str, Any] | None:
        """The first row of the query for ``key`` (closing the connection if it broke)."""
        raise NotImplementedError

    def fetch(self, key: Any) -> Any:
        """The row (or ``value`` column) for ``key``, or None when there is none.

        Raises:
            the driver's error: the server is gone or refused the query.
            KeyError: the row has no ``value`` column.
        """
        row = self._fetch_row(key)
        if row is None:
            return None
        return row if self.value is None else row[self.value]

    def close(self) -> None:
        """Close the connection (the next fetch opens a new one)."""
        raise NotImplementedError
