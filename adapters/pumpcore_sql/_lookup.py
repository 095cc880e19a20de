"""SQLLookupProvider: a lookup's table from a query, reloaded on each refresh."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from ._connection import SQLConnection

C = TypeVar("C", bound=SQLConnection)


class SQLLookupProvider(Generic[C]):
    """Loads ``key`` → row for a ``pumpcore.lookup`` lookup; a driver's subclass gives
    ``_select`` (the query of a table) and ``_rows`` (run it on a new connection)."""

    def __init__(
        self,
        connection: C,
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
        self._query = self._select(table, query)
        self._last: dict[Any, Any] | None = None

    def _select(self, table: str, query: str) -> Any:
        """``query``, or ``SELECT *`` from ``table`` quoted in the driver's dialect."""
        raise NotImplementedError

    def _rows(self) -> list[dict[str, Any]]:
        """Every row of the query, as dicts, read on a connection of its own."""
        raise NotImplementedError

    def load(self) -> Mapping[Any, Any] | None:
        """The table, or None when it is the same as at the previous load.

        Raises:
            the driver's error: the server is gone or refused the query.
            KeyError: the rows have no ``key`` (or ``value``) column.
        """
        rows = self._rows()
        key, value = self.key, self.value
        data = {row[key]: row if value is None else row[value] for row in rows}
        if data == self._last:
            return None
        self._last = data
        return data
