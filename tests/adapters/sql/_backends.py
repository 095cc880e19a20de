"""The SQL adapters' tests run once per database: what differs between them, in one place."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs

from pumpcore import Configurable, Sink, TriggerSource

from ...servers import service


@attrs.frozen
class Backend:
    """One database: its adapter's classes and how the tests talk to its server directly."""

    name: str
    service: str
    connection: Callable[..., Configurable]
    source: Callable[..., TriggerSource]
    sink: Callable[..., Sink]
    lookup: Callable[..., Any]
    execute: Callable[[Configurable, str, Sequence[Any]], list[tuple[Any, ...]]]
    # A column type that refuses text, and the table DDL's text and JSON types.
    int_type: str = "integer"
    text_type: str = "text"


def _pg_execute(connection: Configurable, query: str, params: Sequence[Any]) -> list[Any]:
    conn = connection.connect()  # type: ignore[attr-defined]
    with conn:
        cursor = conn.execute(query, params)
        rows = cursor.fetchall() if cursor.description else []
    return [tuple(row) for row in rows]


def _postgres() -> Backend:
    import pumpcore_postgres as pg

    return Backend(
        "postgres",
        "postgresql",
        pg.PostgreSQLConnection,
        pg.PostgreSQLSource,
        pg.PostgreSQLSink,
        pg.PostgreSQLLookupProvider,
        _pg_execute,
    )


def _mysql_execute(connection: Configurable, query: str, params: Sequence[Any]) -> list[Any]:
    conn = connection.connect()  # type: ignore[attr-defined]
    try:
        with conn.cursor() as cursor:
            cursor.execute(query, tuple(params) or None)
            rows = cursor.fetchall() if cursor.description else []
        conn.commit()
    finally:
        conn.close()
    return [tuple(row) for row in rows]


def _mysql() -> Backend:
    import pumpcore_mysql as my

    return Backend(
        "mysql",
        "mariadb",
        my.MySQLConnection,
        my.MySQLSource,
        my.MySQLSink,
        my.MySQLLookupProvider,
        _mysql_execute,
        text_type="varchar(255)",
    )


BACKENDS = {"postgres": _postgres, "mysql": _mysql}


class Database:
    """A backend with a server address, unique table names, and the tables dropped after."""

    def __init__(self, backend: Backend, address: tuple[str, int]) -> None:
        self.backend = backend
        self.address = address
        self.tables: list[str] = []

    @property
    def name(self) -> str:
        return self.backend.name

    def connection(self, address: tuple[str, int] | None = None, **config: Any) -> Any:
        host, port = address or self.address
        base: dict[str, Any] = {"host": host, "port": port, "db": "test", "reconnect_delay": 0.2}
        base["user"] = "postgres" if self.name == "postgres" else "root"
        return self.backend.connection(config={**base, **config})

    def table(self, columns: str) -> str:
        """A new table with ``columns`` (DDL), dropped after the test."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.tables.append(name)
        self.execute(f"CREATE TABLE {name} ({columns})")
        return name

    def name_for_table(self) -> str:
        """A unique table name the code under test creates; dropped after the test."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.tables.append(name)
        return name

    def execute(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.backend.execute(self.connection(), query, params)

    def insert(self, table: str, columns: str, rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join(["%s"] * len(rows[0]))
        conn = self.connection().connect()
        try:
            with conn.cursor() as cursor:
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
            conn.commit()
        finally:
            conn.close()

    def drop_all(self) -> None:
        for table in self.tables:
            with contextlib.suppress(Exception):
                self.execute(f"DROP TABLE IF EXISTS {table}")


@contextlib.contextmanager
def database(name: str) -> Iterator[Database]:
    backend = BACKENDS[name]()
    db = Database(backend, service(backend.service))
    try:
        yield db
    finally:
        db.drop_all()
