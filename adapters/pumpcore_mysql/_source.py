"""MySQLSource: on each trigger firing, runs a query and emits its rows as dicts.

The rows stream through an unbuffered cursor (``SSDictCursor``), ``fetch_size`` at a time, so a
query of millions of rows holds at most ``fetch_size`` of them in memory; each fetch is handed
to the pipeline with one trip to the executor's thread (``Source.process_many``). Each cycle
opens its own connection: a server that went away costs that cycle only.

A failed cycle (the server gone, a query refused) is counted as ``source.error`` and reported
soft; the next firing runs the query again from the start (its rows are emitted again: a
trigger source re-reads, it does not resume). ``on_error = policy`` hands such failures to the
pipeline's error policy instead (the hard policy then stops the pipeline).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import pymysql.cursors

from pumpcore import ConfigError, ConfigRule, TriggerSource
from pumpcore.config import in_range, one_of

from ._connection import MySQLConnection

if TYPE_CHECKING:
    from pumpcore import Pipeline


class MySQLSource(TriggerSource):
    """Emits each row of ``query`` as a ``dict`` (column → value) per firing of its trigger
    (BSPump's ``MySQLSource``).

    Args:
        connection: where to run the query.

    Config:
        query: the SELECT to run. Required.
        fetch_size: rows fetched from the server at a time (the memory bound).
        on_error: ``continue``: a failed cycle never stops the pipeline; ``policy``: the
            pipeline's error policy decides.

    Example:
        >>> from pumpcore.trigger import PeriodicTrigger
        >>> source = MySQLSource(
        ...     connection=MySQLConnection(config={"db": "test"}),
        ...     config={"query": "SELECT id, name, surname FROM people;"},
        ... ).on(PeriodicTrigger(60))
        >>> source.Query
        'SELECT id, name, surname FROM people;'
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "query": "",
        "fetch_size": 1000,
        "on_error": "continue",
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "fetch_size": in_range(1, 2**20),
        "on_error": one_of("continue", "policy"),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        connection: MySQLConnection,
    ) -> None:
        self.connection = connection
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        super().apply_config()
        #: The query run on each firing.
        self.Query = str(self.Config["query"])
        self._fetch_size = int(self.Config["fetch_size"])
        self.isolate_source_failures = self.Config["on_error"] == "continue"
        if self.Pipeline is not None and not self.Query.strip():
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: config key 'query' is empty; give the query"
            )

    def cycle(self, *args: Any) -> None:
        """Run the query and emit its rows, ``fetch_size`` at a time from the server.

        Raises:
            pymysql.err.Error: the server is gone or refused the query.
        """
        conn = self.connection.connect(pymysql.cursors.SSDictCursor)
        try:
            with conn.cursor() as cursor:
                cursor.execute(self.Query)
                while rows := cursor.fetchmany(self._fetch_size):
                    self.process_many(rows)  # one trip to the executor's thread per fetch
            conn.rollback()  # a read: nothing to commit
        finally:
            conn.close()
