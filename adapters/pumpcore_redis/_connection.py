"""RedisConnection: where and how to connect (a ``[connection:ID]`` section).

Each user (a source, a sink, a lookup provider) makes its own client with ``client()``: redis-py
clients reconnect by themselves on the next command after the server went away.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from pumpcore import ConfigRule, Configurable, current_settings
from pumpcore.config import in_range, non_empty


class RedisConnection(Configurable):
    """Connection parameters for Redis components.

    Its config is the ``[connection:ID]`` section of the settings in force when it is made
    (``pumpcore.use_settings``), then ``config=``. The password never appears in its repr nor in
    config errors.

    Config:
        host: the server's host name or address.
        port: its TCP port.
        db: the database number.
        username: the ACL user (empty: the default user).
        password: the password (empty: none).
        socket_timeout: seconds to wait for a connection or an answer.
        reconnect_delay: seconds to wait before trying again after the server went away.

    Example:
        >>> RedisConnection("R", config={"password": "s3cret"})
        <RedisConnection 'R' @localhost:6379/0>
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "host": "localhost",
        "port": 6379,
        "db": 0,
        "username": "",
        "password": "",
        "socket_timeout": 5.0,
        "reconnect_delay": 1.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "host": non_empty(),
        "port": in_range(1, 65535),
        "db": in_range(0, 2**31),
        # 0 would mean "wait forever" on a dead server.
        "socket_timeout": in_range(0.001, 3600),
        "reconnect_delay": in_range(0, 3600),
    }

    def __init__(self, id: str | None = None, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(id=id, config=config)
        section = current_settings().section(f"connection:{self.Id}")
        if section:
            self.reconfigure(section)

    @property
    def reconnect_delay(self) -> float:
        """Seconds to wait before trying again after a failure."""
        return float(self.Config["reconnect_delay"])

    def client(self) -> redis.Redis:
        """A new client (it connects on its first command). It does not retry by itself: its
        users do, every ``reconnect_delay`` seconds, within their own bounds."""
        config = self.Config
        timeout = float(config["socket_timeout"])
        return redis.Redis(
            host=config["host"],
            port=int(config["port"]),
            db=int(config["db"]),
            username=config["username"] or None,
            password=config["password"] or None,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )

    def __repr__(self) -> str:
        config = self.Config
        where = f"{config['host']}:{config['port']}/{config['db']}"
        return f"<{type(self).__name__} {self.Id!r} @{where}>"


def is_server_gone(exc: BaseException) -> bool:
    """True for a lost connection or a timeout (try again), not for a refused command."""
    return isinstance(exc, redis.ConnectionError | redis.TimeoutError)
