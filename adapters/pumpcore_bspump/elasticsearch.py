"""BSPump's ``bspump.elasticsearch``: ``pumpcore_elasticsearch`` with BSPump's signatures.

``ElasticSearchConnection(app, id=None, config=None)`` reads ``[connection:ID]`` (``url``,
``username``, ``password``…); ``ElasticSearchSink``, ``ElasticSearchSource`` and
``ElasticSearchAggsSource`` take ``(app, pipeline, connection, ...)`` with the connection's id,
located in the application's PumpService; ``ElasticSearchLookup(app, connection, id=None,
config=None, lazy=False)`` loads its table from ``index`` (keyed by ``key``, the document id by
default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ._later import needs

try:
    import pumpcore_elasticsearch as _es
    from pumpcore_elasticsearch import DataFeeder as DataFeeder
    from pumpcore_elasticsearch import ElasticSearchError as ElasticSearchError
    from pumpcore_elasticsearch import ElasticSearchItemError as ElasticSearchItemError
    from pumpcore_elasticsearch import data_feeder_create as data_feeder_create
    from pumpcore_elasticsearch import data_feeder_create_or_index as data_feeder_create_or_index
    from pumpcore_elasticsearch import data_feeder_delete as data_feeder_delete
    from pumpcore_elasticsearch import data_feeder_index as data_feeder_index
    from pumpcore_elasticsearch import data_feeder_update as data_feeder_update
    from pumpcore_elasticsearch import data_feeder_upsert as data_feeder_upsert
except ImportError as _exc:
    raise needs("elasticsearch", _exc) from None

from pumpcore import ConfigRule
from pumpcore.config import non_empty, one_of

from ._adapt import BSPumpConnected, adapt_connection
from ._lookups import ConnectionLookup

__all__ = (
    "DataFeeder",
    "ElasticSearchAggsSource",
    "ElasticSearchConnection",
    "ElasticSearchError",
    "ElasticSearchItemError",
    "ElasticSearchLookup",
    "ElasticSearchSink",
    "ElasticSearchSource",
    "data_feeder_create",
    "data_feeder_create_or_index",
    "data_feeder_delete",
    "data_feeder_index",
    "data_feeder_update",
    "data_feeder_upsert",
)

ElasticSearchConnection = adapt_connection(_es.ElasticSearchConnection, __name__)


class ElasticSearchSink(BSPumpConnected, _es.ElasticSearchSink):
    """BSPump's ``ElasticSearchSink(app, pipeline, connection, id=None, config=None,
    data_feeder=data_feeder_create_or_index)``.

    Config (besides pumpcore's ``index``, ``bulk_max_count``…): ``doctype``, BSPump's, which
    Elasticsearch 7+ knows only as ``_doc``; any other value is refused.
    """

    ConnectionClass = _es.ElasticSearchConnection
    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"doctype": "_doc"}
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {"doctype": one_of("_doc")}


class ElasticSearchSource(BSPumpConnected, _es.ElasticSearchSource):
    """BSPump's ``ElasticSearchSource(app, pipeline, connection, request_body=None, paging=True,
    id=None, config=None)``; trigger it with ``.on(bspump.trigger.PeriodicTrigger(app, 5))``."""

    ConnectionClass = _es.ElasticSearchConnection
    BSPumpPositional = ("request_body", "paging", "id", "config")


class ElasticSearchAggsSource(BSPumpConnected, _es.ElasticSearchAggsSource):
    """BSPump's ``ElasticSearchAggsSource(app, pipeline, connection, request_body=None, id=None,
    config=None)``."""

    ConnectionClass = _es.ElasticSearchConnection
    BSPumpPositional = ("request_body", "id", "config")


class ElasticSearchLookup(ConnectionLookup):
    """BSPump's ``ElasticSearchLookup(app, connection, id=None, config=None, lazy=False)``: the
    documents of ``index`` by ``key`` (``_id`` by default), loaded whole and refreshed every
    ``refresh_period`` seconds (BSPump asked per key; a table in memory never blocks a
    processor). Its config is ``[lookup:ID]``, then ``config=``.

    Config: ``index`` (required), ``key``, ``refresh_period``, ``optional``.
    """

    ConnectionClass = _es.ElasticSearchConnection
    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"index": "", "key": "_id"}
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {"index": non_empty(), "key": non_empty()}

    def make_provider(self) -> Any:
        """``ElasticSearchLookupProvider`` for ``index`` and ``key``."""
        return _es.ElasticSearchLookupProvider(
            self.Connection, str(self.Config["index"]), key=str(self.Config["key"])
        )
