"""Paging through a search: ``search_after``, in a point in time where the cluster has one.

Rules:
1. With a point in time (``/_pit`` on Elasticsearch 7.10+, ``/_search/point_in_time`` on
   OpenSearch 2.4+) every page sees the index as it was when the search began, and the sort
   ends with ``_shard_doc`` (a total order) unless it already does. The point in time is
   closed when paging ends, however it ends.
2. Without one (an older cluster, or ``point_in_time = never``), pages follow the request's own
   sort, which must then be a total order (end it with a unique field); concurrent writes may
   be seen or missed.
3. A page shorter than ``size`` is the last.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from ._connection import ElasticSearchConnection, ElasticSearchError


def search_pages(
    connection: ElasticSearchConnection,
    index: str,
    body: Mapping[str, Any],
    *,
    size: int,
    keep_alive: str,
    pit_api: str | None,
) -> Iterator[list[Mapping[str, Any]]]:
    """The hits of ``body`` on ``index``, a page (up to ``size`` hits) at a time.

    Args:
        connection: the cluster.
        index: an index name or pattern.
        body: the search request body (``query``, ``sort``, ``_source``…).
        size: hits per page.
        keep_alive: how long the point in time lives between pages (``"1m"``).
        pit_api: ``ElasticSearchConnection.point_in_time_api()``'s answer, or None for none.

    Raises:
        ElasticSearchError: a request failed.
    """
    request: dict[str, Any] = {k: v for k, v in body.items() if k not in ("from", "size")}
    sort = list(request.get("sort") or [])
    pit_id: str | None = None
    if pit_api == "elasticsearch":
        _, opened = connection.request(
            "POST", f"/{quote(index, safe=',*')}/_pit", params={"keep_alive": keep_alive}
        )
        pit_id = opened["id"]
    elif pit_api == "opensearch":
        _, opened = connection.request(
            "POST",
            f"/{quote(index, safe=',*')}/_search/point_in_time",
            params={"keep_alive": keep_alive},
        )
        pit_id = opened["pit_id"]
    if pit_id is not None and not any(_sorts_on(s, "_shard_doc") for s in sort):
        sort.append({"_shard_doc": "asc"})
    elif pit_id is None and not sort:
        sort = [{"_doc": "asc"}]
    request["sort"] = sort
    request["size"] = size
    path = "/_search" if pit_id is not None else f"/{quote(index, safe=',*')}/_search"
    try:
        while True:
            if pit_id is not None:
                request["pit"] = {"id": pit_id, "keep_alive": keep_alive}
            _, answer = connection.request("POST", path, body=request)
            pit_id = answer.get("pit_id", pit_id)
            hits = answer["hits"]["hits"]
            if hits:
                yield hits
            if len(hits) < size:
                return
            request["search_after"] = hits[-1]["sort"]
    finally:
        if pit_id is not None:
            with contextlib.suppress(ElasticSearchError):  # it expires by itself anyway
                if pit_api == "elasticsearch":
                    connection.request("DELETE", "/_pit", body={"id": pit_id}, accept=(404,))
                else:
                    connection.request(
                        "DELETE", "/_search/point_in_time", body={"pit_id": [pit_id]}, accept=(404,)
                    )


def _sorts_on(item: Any, field: str) -> bool:
    return item == field or (isinstance(item, Mapping) and field in item)
