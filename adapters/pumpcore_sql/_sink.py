"""SQLSink: buffers rows, writes them in one transaction per flush, commits in flush.

What the SQL sinks share: the config and its checks, the event → row mapping, the counters, the
reconnect loop (rule 2 of the drivers' sinks) and the row isolation of a refused batch (rule 1).
A driver's subclass gives how to connect and to close, its transactions and savepoints, the bulk
write, which errors are the rows' and which the server's, and the SQL in its dialect.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import attrs
import orjson

from pumpcore import BlockingSink, ConfigError, ConfigRule, Context, config_value_repr
from pumpcore.config import in_range

from ._connection import SQLConnection

if TYPE_CHECKING:
    from pumpcore import Pipeline

C = TypeVar("C", bound=SQLConnection)
DB = TypeVar("DB")


@attrs.frozen
class SQLSinkStatistics:
    """A SQL sink's counters.

    Attributes:
        written: rows committed.
        rejected: rows the server refused (rule 1), dead-lettered or dropped.
        reconnects: times the server was gone during a flush and the buffer was written again.
    """

    written: int
    rejected: int
    reconnects: int


class SQLSink(BlockingSink, Generic[C, DB]):
    """Writes events (mappings of column → value, or sequences in ``columns`` order) as rows of
    ``table``; ``DB`` is the driver's connection type."""

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "table": "",
        "columns": "",
        "upsert_key": "",
        "dead_letter_table": "",
        "flush_timeout": 60.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "flush_timeout": in_range(0, 86400),
    }
    #: Where the sink logs.
    _log: ClassVar[logging.Logger]
    #: The driver's base error (closing a broken connection may raise it).
    _driver_error: ClassVar[type[Exception]]

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        connection: C,
    ) -> None:
        self.connection = connection
        self._rows: list[tuple[Any, ...]] = []
        self._conn: DB | None = None
        self._written = self._rejected = self._reconnects = 0
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        super().apply_config()
        config = self.Config
        owner = f"{type(self).__name__} {self.Id!r}"
        #: The table written.
        self.Table = str(config["table"])
        #: The columns written, in order.
        self.Columns = _names(config["columns"])
        #: The unique key of upserts; empty for plain inserts.
        self.UpsertKey = _names(config["upsert_key"])
        self._dead_letter = str(config["dead_letter_table"])
        self._flush_timeout = float(config["flush_timeout"])
        missing = [c for c in self.UpsertKey if c not in self.Columns]
        if missing:
            shown = config_value_repr("upsert_key", config["upsert_key"])
            raise ConfigError(
                f"{owner}: config key 'upsert_key' names columns not in 'columns' "
                f"({', '.join(self.Columns)}), got {shown}"
            )
        if len(set(self.Columns)) != len(self.Columns):
            raise ConfigError(
                f"{owner}: config key 'columns' repeats a column, got {config['columns']!r}"
            )
        if self.Pipeline is not None:
            for key in ("table", "columns"):
                if not config[key]:
                    raise ConfigError(f"{owner}: config key {key!r} is empty; give the {key}")

    def statistics(self) -> SQLSinkStatistics:
        """Rows written, rejected, and reconnections so far."""
        return SQLSinkStatistics(self._written, self._rejected, self._reconnects)

    def row(self, context: Context, event: Any) -> tuple[Any, ...]:
        """The row for ``event``, in ``Columns`` order. Override it for other event shapes.

        Raises:
            KeyError: a column is missing from a mapping event.
            TypeError: the event is neither a mapping nor a sequence of ``len(Columns)``.
        """
        values: tuple[Any, ...]
        if type(event) is dict or isinstance(event, Mapping):
            try:
                values = tuple(map(event.__getitem__, self.Columns))
            except KeyError as exc:
                raise KeyError(
                    f"{type(self).__name__} {self.Id!r}: the event has no column {exc.args[0]!r}"
                ) from None
        elif isinstance(event, Sequence) and not isinstance(event, str | bytes):
            if len(event) != len(self.Columns):
                raise TypeError(
                    f"{type(self).__name__} {self.Id!r}: a row of {len(event)} values for "
                    f"{len(self.Columns)} columns"
                )
            values = tuple(event)
        else:
            raise TypeError(
                f"{type(self).__name__} {self.Id!r}: cannot write a {type(event).__name__} as a row"
            )
        return self._adapt(values)

    def _adapt(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        """The values as the driver sends them (``dict`` and ``list`` as JSON)."""
        return values

    def process(self, context: Context, event: Any) -> None:
        """Buffer the event's row for the next flush (rule 1: a bad event raises here)."""
        self._rows.append(self.row(context, event))

    # The driver's part.

    def _connect(self) -> DB:
        raise NotImplementedError

    def _is_open(self, conn: DB) -> bool:
        raise NotImplementedError

    def _close(self, conn: DB) -> None:
        raise NotImplementedError

    def _server_gone(self, exc: BaseException) -> bool:
        """The server's fault (rule 2): connect again and write the buffer again."""
        raise NotImplementedError

    def _refused(self, exc: BaseException) -> bool:
        """The row's fault (rule 1): isolate the batch's rows."""
        raise NotImplementedError

    def _transaction(self, conn: DB) -> contextlib.AbstractContextManager[Any]:
        """A transaction committed at the end, yielding a cursor."""
        raise NotImplementedError

    def _batch_savepoint(self, conn: DB, cursor: Any) -> contextlib.AbstractContextManager[Any]:
        """Around the bulk write: a refused batch is undone and leaves the transaction usable."""
        raise NotImplementedError

    def _row_savepoint(self, conn: DB) -> contextlib.AbstractContextManager[Any]:
        """Around one row's INSERT when the batch was refused."""
        raise NotImplementedError

    def _bulk(self, conn: DB, cursor: Any, rows: list[tuple[Any, ...]]) -> None:
        """Write every row at once."""
        raise NotImplementedError

    def _insert(self, cursor: Any, row: tuple[Any, ...]) -> None:
        """Write one row."""
        raise NotImplementedError

    def _error_text(self, exc: Exception) -> str:
        """How a refused row's error is logged and dead-lettered."""
        raise NotImplementedError

    def _dead_letter_event(self, row: tuple[Any, ...]) -> dict[str, Any]:
        """The row as the dead-letter table's event (column → value)."""
        return dict(zip(self.Columns, row, strict=True))

    def _dead_letter_insert(self, cursor: Any, error: str, event: str) -> None:
        """Write one row to ``dead_letter_table``."""
        raise NotImplementedError

    # Shared.

    def flush(self) -> None:
        """Write and commit every buffered row (rules 1-3).

        Raises:
            the driver's error: the server stayed gone for ``flush_timeout`` seconds, or the
                write failed for a reason not the rows' (a missing table, a syntax error).
        """
        if not self._rows:
            return
        deadline = time.monotonic() + self._flush_timeout
        while True:
            try:
                if self._conn is None or not self._is_open(self._conn):
                    self._conn = self._connect()
                written, rejected = self._write(self._conn, self._rows)
            except Exception as exc:
                self._discard_connection()
                if not self._server_gone(exc):
                    raise
                if time.monotonic() + self.connection.reconnect_delay > deadline:
                    raise
                self._reconnects += 1
                self._log.warning(
                    "%s: the server is gone (%s); writing %d rows again in %.1f s",
                    self.Id, exc, len(self._rows), self.connection.reconnect_delay,
                )  # fmt: skip
                time.sleep(self.connection.reconnect_delay)
                continue
            self._rows.clear()
            self._written += written
            self._rejected += rejected
            return

    def _write(self, conn: DB, rows: list[tuple[Any, ...]]) -> tuple[int, int]:
        """One transaction: all rows at once, or row by row when the server refuses some."""
        with self._transaction(conn) as cursor:
            try:
                with self._batch_savepoint(conn, cursor):
                    self._bulk(conn, cursor, rows)
                return len(rows), 0
            except Exception as exc:
                if not self._refused(exc):
                    raise
            written = rejected = 0
            for row in rows:
                try:
                    with self._row_savepoint(conn):
                        self._insert(cursor, row)
                    written += 1
                except Exception as exc:
                    if not self._refused(exc):
                        raise
                    rejected += 1
                    self._reject(cursor, row, exc)
            return written, rejected

    def _reject(self, cursor: Any, row: tuple[Any, ...], exc: Exception) -> None:
        """Rule 1: count, log (the error, not the values), dead-letter a refused row."""
        error = self._error_text(exc)
        self._log.warning("%s: the server refused a row: %s", self.Id, error)
        if not self._dead_letter:
            return
        event = orjson.dumps(self._dead_letter_event(row), default=str).decode()
        self._dead_letter_insert(cursor, error, event)

    def _discard_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._is_open(conn):
            try:
                self._close(conn)
            except self._driver_error:
                self._log.debug("%s: closing a broken connection failed", self.Id, exc_info=True)

    def close(self) -> None:
        """Disconnect. Rows still buffered (the last flush failed) were never acknowledged."""
        self._rows.clear()
        self._discard_connection()


@contextlib.contextmanager
def no_savepoint() -> Iterator[None]:
    """For a server whose refused statement undoes itself."""
    yield


def _names(value: str) -> tuple[str, ...]:
    """Comma-separated names, stripped, empty ones dropped."""
    return tuple(name.strip() for name in str(value).split(",") if name.strip())
