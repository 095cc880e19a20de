"""PostgreSQLConnection: where and how to connect, BSPump's ``[connection:ID]`` keys.

It holds no socket: each user (a source's cycle, a sink, a lookup load) opens its own
``psycopg`` connection with ``connect()`` when it needs one and opens a new one after a failure,
so one broken socket never outlives the operation it broke and nothing is shared between threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import psycopg
from psycopg import sql
from pumpcore_sql._connection import SQLConnection

from pumpcore import ConfigRule
from pumpcore.config import in_range


class PostgreSQLConnection(SQLConnection):
    """Connection parameters for PostgreSQL components (BSPump's ``PostgreSQLConnection``).

    Its config is the ``[connection:ID]`` section of the settings in force when it is made
    (``pumpcore.use_settings``), then ``config=``. The password never appears in its repr nor in
    config errors.

    Config:
        host: the server's host name or address.
        port: its TCP port.
        user: the role to connect as (empty: libpq's default, the OS user).
        password: the role's password (empty: none, or ``~/.pgpass``).
        db: the database (empty: the user's name).
        connect_timeout: seconds to wait for a connection (libpq counts whole seconds, >= 2).
        reconnect_delay: seconds to wait before connecting again after the server went away.

    Example:
        >>> connection = PostgreSQLConnection("PG", config={"db": "test", "password": "s3cret"})
        >>> connection
        <PostgreSQLConnection 'PG' @localhost:5432/test>
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "port": 5432,
        "connect_timeout": 5,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        # A timeout of 0 means "wait forever" to libpq: a sink would hang on a dead server.
        "connect_timeout": in_range(1, 3600),
    }

    def connect(self) -> psycopg.Connection[Any]:
        """A new connection (not in autocommit: writes happen in transactions).

        Raises:
            psycopg.OperationalError: the server cannot be reached or refused the login.
        """
        config = self.Config
        params: dict[str, Any] = {
            "host": config["host"],
            "port": int(config["port"]),
            "connect_timeout": int(config["connect_timeout"]),
            "application_name": f"pumpcore {self.Id}",
        }
        for key, param in (("user", "user"), ("password", "password"), ("db", "dbname")):
            if config[key]:
                params[param] = config[key]
        return psycopg.connect(**params)


def is_server_gone(exc: BaseException) -> bool:
    """True for a failure of the server or the link (not of the data): retry on a new
    connection. Data and integrity errors are the event's; syntax and missing tables, the
    config's."""
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


def table_identifier(name: str) -> sql.Identifier:
    """``schema.table`` or ``table`` as a quoted identifier (never interpolated as text)."""
    return sql.Identifier(*name.split("."))
