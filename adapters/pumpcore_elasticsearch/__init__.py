"""Elasticsearch and OpenSearch over their REST API (``requests``): a bulk sink, a search
source paged with ``search_after`` (and a point in time where the cluster has one), an
aggregations source, a lookup provider and a key fetcher (one document per key, for a
``KeyLookup``), sharing an ``ElasticSearchConnection``.

Install with ``pip install "pumpcore[elasticsearch]"``.
"""

from ._connection import ElasticSearchConnection as ElasticSearchConnection
from ._connection import ElasticSearchConnectionStatistics as ElasticSearchConnectionStatistics
from ._connection import ElasticSearchError as ElasticSearchError
from ._feeders import DataFeeder as DataFeeder
from ._feeders import data_feeder_create as data_feeder_create
from ._feeders import data_feeder_create_or_index as data_feeder_create_or_index
from ._feeders import data_feeder_delete as data_feeder_delete
from ._feeders import data_feeder_index as data_feeder_index
from ._feeders import data_feeder_update as data_feeder_update
from ._feeders import data_feeder_upsert as data_feeder_upsert
from ._fetch import ElasticSearchKeyFetcher as ElasticSearchKeyFetcher
from ._lookup import ElasticSearchLookupProvider as ElasticSearchLookupProvider
from ._sink import ElasticSearchItemError as ElasticSearchItemError
from ._sink import ElasticSearchSink as ElasticSearchSink
from ._sink import ElasticSearchSinkStatistics as ElasticSearchSinkStatistics
from ._source import ElasticSearchAggsSource as ElasticSearchAggsSource
from ._source import ElasticSearchSource as ElasticSearchSource

__all__ = (
    "DataFeeder",
    "ElasticSearchAggsSource",
    "ElasticSearchConnection",
    "ElasticSearchConnectionStatistics",
    "ElasticSearchError",
    "ElasticSearchItemError",
    "ElasticSearchKeyFetcher",
    "ElasticSearchLookupProvider",
    "ElasticSearchSink",
    "ElasticSearchSinkStatistics",
    "ElasticSearchSource",
    "data_feeder_create",
    "data_feeder_create_or_index",
    "data_feeder_delete",
    "data_feeder_index",
    "data_feeder_update",
    "data_feeder_upsert",
)
