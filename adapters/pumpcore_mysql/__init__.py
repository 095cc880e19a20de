"""MySQL and MariaDB on PyMySQL: a connection's parameters (BSPump's ``MySQLConnection`` keys),
a trigger source streaming a query's rows through an unbuffered cursor (``SSCursor``), a sink
writing rows with a multi-row INSERT or an upsert in one transaction per flush (committed before
the acknowledgement), a lookup provider, and a key fetcher (one row per key) for a
``KeyLookup``.

Install with ``pip install "pumpcore[mysql]"``.
"""

from ._connection import MySQLConnection as MySQLConnection
from ._fetch import MySQLKeyFetcher as MySQLKeyFetcher
from ._lookup import MySQLLookupProvider as MySQLLookupProvider
from ._sink import MySQLSink as MySQLSink
from ._sink import SQLSinkStatistics as SQLSinkStatistics
from ._source import MySQLSource as MySQLSource

__all__ = (
    "MySQLConnection",
    "MySQLKeyFetcher",
    "MySQLLookupProvider",
    "MySQLSink",
    "MySQLSource",
    "SQLSinkStatistics",
)
