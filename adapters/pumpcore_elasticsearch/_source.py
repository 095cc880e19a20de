"""ElasticSearchSource and ElasticSearchAggsSource: a search, or its aggregations, on each
trigger firing (BSPump's sources of the same names).

A cycle that fails (the cluster unreachable after the connection's retries, a query it
refuses) raises ``ElasticSearchError``: the executor reports it (``source.error``) and the
pipeline's error policy decides; the next firing runs the search again from the start. The
events of a cycle are emitted as its pages come, so a cycle that fails part-way has emitted
its first pages: a search source is for re-runnable extracts, with at-least-once meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from pumpcore import ConfigRule, TriggerSource
from pumpcore.config import in_range, non_empty, one_of

from ._connection import ElasticSearchConnection
from ._search import search_pages

if TYPE_CHECKING:
    from pumpcore import Pipeline

#: BSPump's default request body: every document.
DEFAULT_REQUEST_BODY: Mapping[str, Any] = {"query": {"bool": {"must": {"match_all": {}}}}}


class ElasticSearchSource(TriggerSource):
    """Runs a search on each firing and emits every hit (a dict with ``_index``, ``_id``,
    ``_source`` and ``sort``, as BSPump does), paged with ``search_after`` in a point in time
    where the cluster has one (``pumpcore_elasticsearch._search``'s rules). The context holds
    ``es_index`` and ``es_id``.

    Args:
        connection: the cluster.
        request_body: the search request (``query``, ``sort``, ``_source``…); BSPump's default
            matches every document. Without a point in time its ``sort`` must be a total order.
        paging: False: one request of ``size`` hits, no paging (BSPump's argument).

    Config:
        index: the index name or pattern.
        size: hits per page.
        scroll_timeout: how long the point in time lives between pages (BSPump's key name).
        point_in_time: ``"auto"`` (use one where the cluster has it) or ``"never"``.
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "index": "index-*",
        "size": 1000,
        "scroll_timeout": "1m",
        "point_in_time": "auto",
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "index": non_empty(),
        "size": in_range(1, 10_000),
        "scroll_timeout": non_empty(),
        "point_in_time": one_of("auto", "never"),
    }

    def __init__(
        self,
        connection: ElasticSearchConnection,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        request_body: Mapping[str, Any] | None = None,
        paging: bool = True,
    ) -> None:
        self.Connection = connection
        self.RequestBody = dict(request_body or DEFAULT_REQUEST_BODY)
        self.Paging = paging
        self._pit_api: str | None = None
        self._asked = False
        super().__init__(pipeline, id, config)

    def cycle(self, *args: Any) -> None:
        """Run the search; emit its hits page by page.

        Raises:
            ElasticSearchError: a request failed.
        """
        config = self.Config
        index, size = str(config["index"]), int(config["size"])
        if not self.Paging:
            body = {**self.RequestBody, "size": size}
            _, answer = self.Connection.request(
                "POST", f"/{quote(index, safe=',*')}/_search", body=body
            )
            self._emit(answer["hits"]["hits"])
            return
        if not self._asked and config["point_in_time"] == "auto":
            self._pit_api = self.Connection.point_in_time_api()
            self._asked = True
        for hits in search_pages(
            self.Connection,
            index,
            self.RequestBody,
            size=size,
            keep_alive=str(config["scroll_timeout"]),
            pit_api=self._pit_api,
        ):
            self._emit(hits)

    def _emit(self, hits: list[Mapping[str, Any]]) -> None:
        for hit in hits:
            self.process(hit, {"es_index": hit.get("_index"), "es_id": hit.get("_id")})


class ElasticSearchAggsSource(TriggerSource):
    """Runs an aggregation on each firing and emits one event per value it holds, BSPump's
    ``ElasticSearchAggsSource``.

    The aggregations are walked depth first: a bucket aggregation adds its name and the
    bucket's ``key`` to the event being built, a metric aggregation its name and ``value``;
    each metric value found emits the event built so far, and a bucket with no metric under it
    emits its ``doc_count``. ``{"by_host": {terms}, aggs: {"mx": {max}}}`` emits
    ``{"by_host": "a", "mx": 7.0}`` per host.

    Args:
        connection: the cluster.
        request_body: the search request with its ``aggs``.

    Config:
        index: the index name or pattern.
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"index": "index-*"}
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {"index": non_empty()}

    def __init__(
        self,
        connection: ElasticSearchConnection,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        request_body: Mapping[str, Any] | None = None,
    ) -> None:
        self.Connection = connection
        self.RequestBody = dict(request_body or DEFAULT_REQUEST_BODY)
        super().__init__(pipeline, id, config)

    def cycle(self, *args: Any) -> None:
        """Run the aggregation; emit its values.

        Raises:
            ElasticSearchError: the request failed.
        """
        body = {**self.RequestBody, "size": 0}
        index = str(self.Config["index"])
        _, answer = self.Connection.request(
            "POST", f"/{quote(index, safe=',*')}/_search", body=body
        )
        for name, aggregation in (answer.get("aggregations") or {}).items():
            self.process_aggs({}, name, aggregation)

    def process_aggs(self, path: dict[str, Any], aggs_name: str, aggs: Mapping[str, Any]) -> None:
        """Walk one aggregation under ``path`` (the bucket keys so far), BSPump's hook."""
        if "buckets" in aggs:
            self.process_buckets(path, aggs_name, aggs["buckets"])
        elif "value" in aggs:
            self.process({**path, aggs_name: aggs["value"]})

    def process_buckets(self, path: dict[str, Any], parent: str, buckets: Any) -> None:
        """Walk the buckets of aggregation ``parent`` (a list, or a dict of named buckets)."""
        named = buckets.items() if isinstance(buckets, Mapping) else ((None, b) for b in buckets)
        for name, bucket in named:
            here = {**path, parent: bucket.get("key", name)}
            subs = [(k, v) for k, v in bucket.items() if isinstance(v, Mapping)]
            for sub_name, sub in subs:
                self.process_aggs(here, sub_name, sub)
            if not subs:
                self.process({**here, "doc_count": bucket.get("doc_count")})
