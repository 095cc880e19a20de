"""PostgreSQL on psycopg 3: a connection's parameters (BSPump's ``[connection:ID]`` keys), a
trigger source streaming a query's rows through a server-side cursor, a sink writing rows with
COPY, INSERT or upsert in one transaction per flush (committed before the acknowledgement), a
lookup provider, and a key fetcher (one row per key) for a ``KeyLookup``.

Install with ``pip install "pumpcore[postgres]"``.
"""

from ._connection import PostgreSQLConnection as PostgreSQLConnection
from ._fetch import PostgreSQLKeyFetcher as PostgreSQLKeyFetcher
from ._lookup import PostgreSQLLookupProvider as PostgreSQLLookupProvider
from ._sink import PostgreSQLSink as PostgreSQLSink
from ._sink import SQLSinkStatistics as SQLSinkStatistics
from ._source import PostgreSQLSource as PostgreSQLSource

__all__ = (
    "PostgreSQLConnection",
    "PostgreSQLKeyFetcher",
    "PostgreSQLLookupProvider",
    "PostgreSQLSink",
    "PostgreSQLSource",
    "SQLSinkStatistics",
)
