"""ElasticSearchKeyFetcher against noida-db (Elasticsearch 8's API) and osmem-server
(OpenSearch's): one document per key behind a KeyLookup; a failed request is an error (counted,
through the policy), never a silent None."""

from __future__ import annotations

import pumpcore_executors
import pytest
from pumpcore_elasticsearch import ElasticSearchError, ElasticSearchKeyFetcher

from pumpcore import Pipeline
from pumpcore.common import IteratorSource, ListSink
from pumpcore.lookup import KeyLookup, enrich_by_key

from ._cluster import Cluster
from ._helpers import connect, run_kwargs
from .test_source import fill

pytestmark = pytest.mark.timeout(60)


def test_one_document_per_key(cluster: Cluster) -> None:
    index = fill(cluster, 30)
    by_id = ElasticSearchKeyFetcher(connect(cluster), index)
    by_n = ElasticSearchKeyFetcher(connect(cluster), index, key="n")
    assert by_id.fetch("7") == {"n": 7, "g": "g1"}
    assert by_id.fetch("nobody") is None
    assert by_n.fetch(8) == {"n": 8, "g": "g2"}
    assert by_n.fetch(1000) is None


@pytest.mark.parametrize("executor", ["threads", "asyncio"])
def test_enrich_by_key_and_a_missing_index(cluster: Cluster, executor: str) -> None:
    index = fill(cluster, 30)
    lookup = KeyLookup("Docs", ElasticSearchKeyFetcher(connect(cluster), index), cache_size=8)
    gone = KeyLookup(
        "Gone", ElasticSearchKeyFetcher(connect(cluster, retries=0), cluster.new_index("none"))
    )
    sink = ListSink()
    p = Pipeline("P", error_policy="soft")
    events = [{"id": str(n % 40)} for n in range(80)]  # ids 30..39 are not in the index
    p.build(
        IteratorSource([dict(e) for e in events]),
        *enrich_by_key(lookup, key="id", into="doc"),
        *enrich_by_key(gone, key="id", into="other", on_error="default", default={}),
        sink,
    )
    pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))  # type: ignore[arg-type]
    assert sink.Events == [
        {
            **e,
            **(
                {"doc": {"n": int(e["id"]), "g": f"g{int(e['id']) % 3}"}}
                if int(e["id"]) < 30
                else {}
            ),
            "other": {},
        }
        for e in events
    ]
    s = lookup.statistics()
    assert s.hits + s.misses == 80
    assert s.size <= 8
    assert gone.statistics().errors == 80  # never cached, never None
    with pytest.raises(ElasticSearchError):
        gone.get("1")
