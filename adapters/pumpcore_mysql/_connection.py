"""MySQLConnection: where and how to connect, BSPump's ``MySQLConnection`` keys.

It holds no socket: each user (a source's cycle, a sink, a lookup load) opens its own PyMySQL
connection with ``connect()`` when it needs one and a new one after a failure, so one broken
socket never outlives the operation it broke and nothing is shared between threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pymysql
from pumpcore_sql._connection import SQLConnection

from pumpcore import ConfigRule
from pumpcore.config import in_range, non_empty

# Client errors (2003 cannot connect, 2006 gone away, 2013 lost during a query, 2055 lost at
# handshake) and server ones that end or abort the session (1053 shutdown, 1927 connection
# killed, 1205 lock wait timeout, 1213 deadlock): retry on a new connection.
_GONE = frozenset({2003, 2006, 2013, 2055, 1053, 1927, 1205, 1213})


class MySQLConnection(SQLConnection):
    """Connection parameters for MySQL and MariaDB components (BSPump's ``MySQLConnection``).

    Its config is the ``[connection:ID]`` section of the settings in force when it is made
    (``pumpcore.use_settings``), then ``config=``. The password never appears in its repr nor in
    config errors.

    Config:
        host: the server's host name or address.
        port: its TCP port.
        user: the user to connect as.
        password: the user's password (empty: none).
        db: the database (empty: none selected; name tables ``db.table``).
        connect_timeout: seconds to wait for a connection.
        reconnect_delay: seconds to wait before connecting again after the server went away.
        charset: the connection's character set.

    Example:
        >>> connection = MySQLConnection("My", config={"db": "test", "password": "s3cret"})
        >>> connection
        <MySQLConnection 'My' @localhost:3306/test>
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "port": 3306,
        "connect_timeout": 1,
        "charset": "utf8mb4",
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "connect_timeout": in_range(1, 31536000),  # PyMySQL's own bounds
        "charset": non_empty(),
    }

    def connect(
        self, cursorclass: type[pymysql.cursors.Cursor] | None = None
    ) -> pymysql.Connection[Any]:
        """A new connection, autocommit off (writes happen in transactions).

        Raises:
            pymysql.err.OperationalError: the server cannot be reached or refused the login.
        """
        config = self.Config
        return pymysql.connect(
            host=config["host"],
            port=int(config["port"]),
            user=config["user"] or None,
            password=config["password"],
            database=config["db"] or None,
            connect_timeout=int(config["connect_timeout"]),
            charset=config["charset"],
            autocommit=False,
            cursorclass=cursorclass or pymysql.cursors.Cursor,
        )


def is_server_gone(exc: BaseException) -> bool:
    """True for a failure of the server or the link (not of the data): retry on a new
    connection. Data and integrity errors are the event's; syntax and missing tables, the
    config's."""
    if isinstance(exc, pymysql.err.InterfaceError):
        return True
    return isinstance(exc, pymysql.err.OperationalError) and bool(exc.args) and exc.args[0] in _GONE


def quote(name: str) -> str:
    """``db.table`` or ``name`` quoted with backticks (never interpolated raw)."""
    return ".".join("`" + part.replace("`", "``") + "`" for part in name.split("."))
