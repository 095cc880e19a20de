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

from typing import Any

import pymysql.cursors
from pumpcore_sql._source import SQLSource

from ._connection import MySQLConnection


class MySQLSource(SQLSource[MySQLConnection]):
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
