"""BSPump's ``bspump.mysql``: ``pumpcore_mysql`` with BSPump's signatures.

``MySQLConnection(app, id=None, config=None)`` reads ``[connection:ID]``; ``MySQLSource`` and
``MySQLSink`` take ``(app, pipeline, connection, id=None, config=None)`` with the connection's id,
located in the application's PumpService when the component is made (register the connection first,
as in BSPump). ``MySQLLookup(app, connection, id=None, config=None, lazy=False)`` loads its table
with ``table``/``query``, ``key`` and ``value`` (``[lookup:ID]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ._later import needs

try:
    import pumpcore_mysql as _a
except ImportError as _exc:
    raise needs("mysql", _exc) from None

from pumpcore import ConfigError, ConfigRule
from pumpcore.config import non_empty

from ._adapt import adapt_connected, adapt_connection
from ._lookups import ConnectionLookup

__all__ = (
    "MySQLConnection",
    "MySQLLookup",
    "MySQLSink",
    "MySQLSource",
)

MySQLConnection = adapt_connection(_a.MySQLConnection, __name__)
MySQLSource = adapt_connected(_a.MySQLSource, __name__, _a.MySQLConnection)
MySQLSink = adapt_connected(_a.MySQLSink, __name__, _a.MySQLConnection)


class MySQLLookup(ConnectionLookup):
    """BSPump's ``MySQLLookup(app, connection, id=None, config=None, lazy=False)``: the rows of
    ``table`` (or of ``query``) by the ``key`` column, each the ``value`` column or the whole
    row; loaded whole, refreshed every ``refresh_period`` seconds.

    Config: ``table`` or ``query``, ``key`` (required), ``value``, ``refresh_period``,
    ``optional``.
    """

    ConnectionClass = _a.MySQLConnection
    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"table": "", "query": "", "key": "", "value": ""}
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {"key": non_empty()}

    def make_provider(self) -> Any:
        """``MySQLLookupProvider`` for this config."""
        config = self.Config
        if not config["table"] and not config["query"]:
            raise ConfigError(f"MySQLLookup {self.Id!r}: set the config key 'table' or 'query'")
        return _a.MySQLLookupProvider(
            self.Connection,
            table=str(config["table"]),
            key=str(config["key"]),
            value=str(config["value"]) or None,
            query=str(config["query"]),
        )
