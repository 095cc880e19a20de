"""ElasticSearchLookupProvider: a lookup's table from an index."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._connection import ElasticSearchConnection
from ._search import search_pages


class ElasticSearchLookupProvider:
    """Loads every document a query matches into a ``pumpcore.lookup`` lookup's table: key →
    the document's ``_source`` (BSPump's ``ElasticSearchLookup`` asks per key; a table loaded
    whole and refreshed by a trigger needs no cache and never blocks a processor).

    Args:
        connection: the cluster.
        index: the index name or pattern.
        key: the field whose value is the table's key; ``"_id"`` for the document id.
        query: the query (default: every document).
        size: hits per page.
        point_in_time: page in a point in time where the cluster has one.

    Example:
        >>> from pumpcore.lookup import MappingLookup
        >>> c = ElasticSearchConnection(config={"url": "http://127.0.0.1:9200"})
        >>> lookup = MappingLookup("Hosts", provider=ElasticSearchLookupProvider(c, "hosts"))
    """

    def __init__(
        self,
        connection: ElasticSearchConnection,
        index: str,
        *,
        key: str = "_id",
        query: Mapping[str, Any] | None = None,
        size: int = 1000,
        point_in_time: bool = True,
    ) -> None:
        self.connection = connection
        self.index = index
        self.key = key
        self.query = dict(query or {"match_all": {}})
        self.size = size
        self.point_in_time = point_in_time

    def load(self) -> Mapping[Any, Any]:
        """The whole table (documents without the key field are left out).

        Raises:
            ElasticSearchError: a request failed.
        """
        pit_api = self.connection.point_in_time_api() if self.point_in_time else None
        table: dict[Any, Any] = {}
        for hits in search_pages(
            self.connection,
            self.index,
            {"query": self.query},
            size=self.size,
            keep_alive="1m",
            pit_api=pit_api,
        ):
            for hit in hits:
                source = hit.get("_source", {})
                value = hit.get("_id") if self.key == "_id" else source.get(self.key)
                if value is not None:
                    table[value] = source
        return table
