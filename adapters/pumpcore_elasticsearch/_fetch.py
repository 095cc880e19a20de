"""ElasticSearchKeyFetcher: one document per key, for a ``pumpcore.lookup.KeyLookup``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._connection import ElasticSearchConnection


class ElasticSearchKeyFetcher:
    """Finds the document of one key for a ``KeyLookup`` (BSPump's ``ElasticSearchLookup``
    asking per key): a search for one hit whose ``key`` field is the key (a ``term`` query;
    ``key="_id"``: an ``ids`` query), answering its ``_source``, or None when nothing matches
    (the lookup caches the absence). Override ``build_find_one_query`` for another query.
    Its ``fetch`` blocks; ``enrich_by_key`` runs it in a worker thread. A failed request
    raises ``ElasticSearchError`` (after the connection's retries), never None.

    Args:
        connection: the cluster.
        index: the index name or pattern.
        key: the field matched against the key; ``"_id"`` for the document id.

    Example:
        >>> c = ElasticSearchConnection(config={"url": "http://127.0.0.1:9200"})
        >>> ElasticSearchKeyFetcher(c, "users", key="login").build_find_one_query("ann")
        {'term': {'login': 'ann'}}
    """

    def __init__(
        self, connection: ElasticSearchConnection, index: str, *, key: str = "_id"
    ) -> None:
        self.connection = connection
        self.index = index
        self.key = key

    def build_find_one_query(self, key: Any) -> Mapping[str, Any]:
        """The query that finds ``key``'s document (BSPump's name)."""
        if self.key == "_id":
            return {"ids": {"values": [str(key)]}}
        return {"term": {self.key: key}}

    def fetch(self, key: Any) -> Any:
        """The ``_source`` of ``key``'s document, or None when there is none.

        Raises:
            ElasticSearchError: the request failed (an unknown index included).
        """
        _, body = self.connection.request(
            "POST",
            f"/{self.index}/_search",
            body={"query": self.build_find_one_query(key), "size": 1},
        )
        hits = body["hits"]["hits"] if body else []
        return hits[0].get("_source", {}) if hits else None
