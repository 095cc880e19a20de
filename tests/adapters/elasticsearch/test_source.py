"""ElasticSearchSource, ElasticSearchAggsSource and ElasticSearchLookupProvider against noida-db
and osmem-server, on every executor: every document once, in the requested order, paged with
search_after in a point in time (and without one); aggregations walked into events; a lookup
table loaded from an index; a refused query reported, not hidden."""

from __future__ import annotations

from typing import Any

import pumpcore_executors
import pytest
from pumpcore_elasticsearch import (
    ElasticSearchAggsSource,
    ElasticSearchError,
    ElasticSearchLookupProvider,
    ElasticSearchSource,
)

from pumpcore import Failure, Pipeline, TriggerSource
from pumpcore.common import ListSink
from pumpcore.lookup import MappingLookup
from pumpcore.testing import conformance
from pumpcore.trigger import RunOnceTrigger

from ._cluster import Cluster
from ._helpers import connect, run_kwargs

pytestmark = pytest.mark.timeout(60)

# Both servers answer search_after, points in time and aggregations. osmem-server has
# OpenSearch's point-in-time API (not /_pit) and adds no implicit _shard_doc tiebreaker to a
# point-in-time search, so the source adds it.

every_executor = pytest.mark.parametrize("executor", conformance.executor_params())

COUNT = 1100


def fill(cluster: Cluster, count: int = COUNT) -> str:
    index = cluster.new_index()
    cluster.create(index, {"n": {"type": "long"}, "g": {"type": "keyword"}})
    body = b"".join(
        b'{"index":{"_id":"%d"}}\n{"n":%d,"g":"g%d"}\n' % (n, n, n % 3) for n in range(count)
    )
    import requests

    requests.post(
        f"{cluster.url}/{index}/_bulk?refresh=true",
        data=body,
        headers={"Content-Type": "application/x-ndjson"},
        timeout=60,
    ).raise_for_status()
    return index


def collect(source: TriggerSource, executor: str) -> tuple[list[Any], list[Failure]]:
    sink = ListSink()
    p = Pipeline("Read", error_policy="soft")
    p.build(source.on(RunOnceTrigger()), sink)
    failures: list[Failure] = []
    p.add_failure_listener(failures.append)
    pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))  # type: ignore[arg-type]
    return list(sink.Events), failures


@every_executor
@pytest.mark.parametrize("pit", ["auto", "never"])
def test_every_document_once_in_order(cluster: Cluster, executor: str, pit: str) -> None:
    index = fill(cluster)
    source = ElasticSearchSource(
        connect(cluster),
        config={"index": index, "size": 300, "point_in_time": pit},
        # Without a point in time the sort must be total: n is unique.
        request_body={"query": {"range": {"n": {"gte": 5}}}, "sort": [{"n": "desc"}]},
    )
    hits, failures = collect(source, executor)
    assert failures == []
    assert [h["_source"]["n"] for h in hits] == list(range(COUNT - 1, 4, -1))
    assert hits[0]["_id"] == str(COUNT - 1)
    assert hits[0]["_index"] == index


@every_executor
def test_without_a_sort_the_point_in_time_order_is_total(cluster: Cluster, executor: str) -> None:
    index = fill(cluster, 450)
    hits, _ = collect(
        ElasticSearchSource(connect(cluster), config={"index": index, "size": 100}), executor
    )
    assert sorted(h["_source"]["n"] for h in hits) == list(range(450))


@every_executor
def test_without_paging_one_page_is_read(cluster: Cluster, executor: str) -> None:
    index = fill(cluster, 50)
    source = ElasticSearchSource(
        connect(cluster),
        config={"index": index, "size": 20},
        request_body={"sort": [{"n": "asc"}]},
        paging=False,
    )
    hits, _ = collect(source, executor)
    assert [h["_source"]["n"] for h in hits] == list(range(20))


@every_executor
def test_aggregations_become_events(cluster: Cluster, executor: str) -> None:
    index = fill(cluster, 30)
    source = ElasticSearchAggsSource(
        connect(cluster),
        config={"index": index},
        request_body={
            "aggs": {
                "by_g": {"terms": {"field": "g"}, "aggs": {"top": {"max": {"field": "n"}}}},
                "mean": {"avg": {"field": "n"}},
                "counts": {"terms": {"field": "g"}},
            }
        },
    )
    events, failures = collect(source, executor)
    assert failures == []
    assert sorted(events, key=repr) == sorted(
        [
            {"by_g": "g0", "top": 27.0},
            {"by_g": "g1", "top": 28.0},
            {"by_g": "g2", "top": 29.0},
            {"mean": 14.5},
            {"counts": "g0", "doc_count": 10},
            {"counts": "g1", "doc_count": 10},
            {"counts": "g2", "doc_count": 10},
        ],
        key=repr,
    )


@every_executor
def test_a_refused_query_is_reported(cluster: Cluster, executor: str) -> None:
    index = fill(cluster, 5)
    source = ElasticSearchSource(
        connect(cluster),
        config={"index": index, "point_in_time": "never"},
        request_body={"query": {"no_such_query": {}}},
    )
    hits, failures = collect(source, executor)
    assert hits == []
    assert isinstance(failures[0].exception, ElasticSearchError)
    assert failures[0].exception.status == 400


@pytest.mark.parametrize("pit", [True, False])
def test_the_lookup_provider_loads_an_index(cluster: Cluster, pit: bool) -> None:
    index = fill(cluster, 1100)
    by_id = MappingLookup(
        "ById", provider=ElasticSearchLookupProvider(connect(cluster), index, point_in_time=pit)
    )
    assert by_id.load()
    assert len(by_id) == 1100
    assert by_id["42"] == {"n": 42, "g": "g0"}
    by_n = ElasticSearchLookupProvider(
        connect(cluster), index, key="n", query={"term": {"g": "g1"}}, size=100
    ).load()
    assert sorted(by_n) == list(range(1, 1100, 3))
