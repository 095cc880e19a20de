"""BSPump's ``bspump.redis``: ``pumpcore_redis`` with BSPump's signatures.

``RedisConnection(app, id=None, config=None)`` reads ``[connection:ID]``; ``RedisSink`` and
``RedisStreamSource`` take ``(app, pipeline, connection, id=None, config=None)`` with the
connection's id, located in the application's PumpService when the component is made (register the
connection first, as in BSPump). ``RedisLookup(app, connection, id=None, config=None, lazy=False)``
loads a hash (``key``) or the keys matching ``pattern`` (``[lookup:ID]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ._later import needs

try:
    import pumpcore_redis as _a
except ImportError as _exc:
    raise needs("redis", _exc) from None

from pumpcore import ConfigError

from ._adapt import adapt_connected, adapt_connection
from ._lookups import ConnectionLookup

__all__ = (
    "RedisConnection",
    "RedisLookup",
    "RedisSink",
    "RedisStreamSource",
)

RedisConnection = adapt_connection(_a.RedisConnection, __name__)
RedisSink = adapt_connected(_a.RedisSink, __name__, _a.RedisConnection)
RedisStreamSource = adapt_connected(_a.RedisStreamSource, __name__, _a.RedisConnection)


class RedisLookup(ConnectionLookup):
    """BSPump's ``RedisLookup(app, connection, id=None, config=None, lazy=False)``: a hash
    (``key``) or the keys matching ``pattern`` (less their ``prefix``), loaded whole, refreshed
    every ``refresh_period`` seconds.

    Config: ``key`` or ``pattern``, ``prefix``, ``encoding``, ``refresh_period``, ``optional``.
    """

    ConnectionClass = _a.RedisConnection
    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "key": "",
        "pattern": "",
        "prefix": "",
        "encoding": "utf-8",
    }

    def make_provider(self) -> Any:
        """``RedisLookupProvider`` for this config."""
        config = self.Config
        if bool(config["key"]) == bool(config["pattern"]):
            raise ConfigError(f"RedisLookup {self.Id!r}: set the config key 'key' or 'pattern'")
        return _a.RedisLookupProvider(
            self.Connection,
            key=str(config["key"]),
            pattern=str(config["pattern"]),
            prefix=str(config["prefix"]),
            encoding=str(config["encoding"]),
        )
