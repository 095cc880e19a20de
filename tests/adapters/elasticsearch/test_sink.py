"""ElasticSearchSink against noida-db (Elasticsearch 8 API) and osmem-server (OpenSearch API),
on every executor: bulk items per data feeder, bounded bulks, dated indices, per-item errors
(retried when retrying can help, dead-lettered otherwise), whole-request refusals split down to
the bad item, an unreachable cluster that makes flush raise and loses nothing."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from pumpcore_elasticsearch import (
    ElasticSearchError,
    ElasticSearchItemError,
    ElasticSearchSink,
    data_feeder_create,
    data_feeder_delete,
    data_feeder_index,
    data_feeder_update,
    data_feeder_upsert,
)
from pumpcore_files import FileLineSource

from pumpcore import ConfigError, Pipeline
from pumpcore.common import IteratorSource
from pumpcore.testing import conformance

from ...servers import free_port
from ._cluster import Cluster
from ._helpers import DeadLetters, connect, run

pytestmark = pytest.mark.timeout(60)

every_executor = pytest.mark.parametrize("executor", conformance.executor_params())


@every_executor
def test_every_data_feeder_writes_what_it_says(cluster: Cluster, executor: str) -> None:
    index = cluster.new_index()
    c = connect(cluster)
    steps: list[tuple[Any, list[dict[str, Any]]]] = [
        (data_feeder_index, [{"_id": f"d{n}", "n": n, "s": "a"} for n in range(6)]),
        (data_feeder_update, [{"_id": "d1", "s": "updated"}]),
        (data_feeder_upsert, [{"_id": "d2", "s": "upserted"}, {"_id": "new", "n": 99}]),
        (data_feeder_delete, [{"_id": "d3"}, {"_id": "absent"}]),
        (data_feeder_create, [{"n": 100}, {"_id": "d4", "n": -1}]),  # d4 exists: 409
    ]
    dead = DeadLetters()
    for feeder, events in steps:
        sink = ElasticSearchSink(c, config={"index": index}, data_feeder=feeder, dead_letter=dead)
        report, _ = run(sink, events, executor)
        assert report.errors == {}
    docs = {d["_id"]: d for d in cluster.docs(index)}
    assert docs["d1"] == {"_id": "d1", "n": 1, "s": "updated"}
    assert docs["d2"]["s"] == "upserted"
    assert docs["new"] == {"_id": "new", "n": 99}
    assert "d3" not in docs  # deleted; deleting an absent id is not an error
    assert docs["d4"]["n"] == 4  # the create did not overwrite it ...
    assert [f.exception.status for f in dead.durable] == [409]  # type: ignore[attr-defined]
    assert dead.durable[0].event == {"_id": "d4", "n": -1}  # ... it was dead-lettered as it came
    assert sorted(d["n"] for d in docs.values()) == [0, 1, 2, 4, 5, 99, 100]


@every_executor
def test_bulks_are_bounded_by_count_and_by_bytes(cluster: Cluster, executor: str) -> None:
    index = cluster.new_index()
    events = [{"_id": n, "n": n, "pad": "x" * 200} for n in range(100)]
    by_count = ElasticSearchSink(connect(cluster), config={"index": index, "bulk_max_count": 7})
    run(by_count, events, executor)
    # Flush points split the run too (commit_every, idle moments): at least ceil(100 / 7).
    assert by_count.statistics().bulks >= 15
    assert by_count.statistics().documents == 100
    by_bytes = ElasticSearchSink(connect(cluster), config={"index": index, "bulk_max_bytes": 2048})
    run(by_bytes, events, executor)
    assert by_bytes.statistics().bulks >= 100 * 240 // 2048
    assert cluster.count(index) == 100


@every_executor
def test_the_index_comes_from_the_context_or_a_date_pattern(
    cluster: Cluster, executor: str
) -> None:
    base = cluster.new_index()
    sink = ElasticSearchSink(
        connect(cluster), config={"index": base + "-%Y.%m.%d", "time_field": "ts"}
    )
    events = [
        {"n": 0, "ts": 0},  # 1970-01-01
        {"n": 1, "ts": "2024-02-29T23:59:59+00:00"},
        {"n": 2, "ts": "2024-03-01T00:30:00+01:00"},  # 2024-02-29 in UTC
        {"n": 3, "ts": 1},
        {"n": 4},  # no time: the pipeline's error policy decides
    ]
    contexts: list[dict[str, Any]] = [{}, {}, {}, {"es_index": base + "-routed"}, {}]
    report, failures = run(sink, events, executor, contexts=contexts)
    assert cluster.count(base + "-1970.01.01") == 1
    assert [d["n"] for d in cluster.docs(base + "-2024.02.29")] == [1, 2]
    assert [d["n"] for d in cluster.docs(base + "-routed")] == [3]
    assert report.statistics["ES"].warning == 1
    assert "no 'ts' field" in str(failures[0].exception)


@every_executor
def test_a_mapping_conflict_is_counted_and_dead_lettered_the_rest_written(
    cluster: Cluster, executor: str
) -> None:
    index = cluster.new_index()
    cluster.create(index, {"n": {"type": "long"}})
    dead = DeadLetters()
    sink = ElasticSearchSink(connect(cluster), config={"index": index}, dead_letter=dead)
    events: list[dict[str, Any]] = [{"n": n} for n in range(50)]
    events[10] = {"n": "ten"}
    events[33] = {"n": {"not": "a number"}}
    report, failures = run(sink, events, executor)
    assert report.errors == {}
    assert failures == []  # the pipeline passed them on; the cluster refused them
    assert sorted(d["n"] for d in cluster.docs(index)) == [
        n for n in range(50) if n not in (10, 33)
    ]
    assert sink.statistics().dead_lettered == 2
    assert [f.event for f in dead.durable] == [{"n": "ten"}, {"n": {"not": "a number"}}]
    for failure in dead.durable:
        assert isinstance(failure.exception, ElasticSearchItemError)
        assert failure.exception.status == 400
        assert failure.component_id == "ElasticSearchSink"
        assert failure.soft
    assert dead.waiting == []  # flushed before the sink's flush returned


@every_executor
def test_items_refused_with_429_are_retried_until_taken(cluster: Cluster, executor: str) -> None:
    index = cluster.new_index()
    cluster.create(index, {"n": {"type": "long"}})
    # A flood-stage block: every write answers 429 per item, as a full disk makes it.
    cluster.call("PUT", f"/{index}/_settings", {"index.blocks.read_only_allow_delete": True})
    unblock = threading.Timer(
        0.6,
        cluster.call,
        ("PUT", f"/{index}/_settings", {"index.blocks.read_only_allow_delete": None}),
    )
    dead = DeadLetters()
    sink = ElasticSearchSink(
        connect(cluster, retries=30), config={"index": index}, dead_letter=dead
    )
    unblock.start()
    try:
        report, _ = run(sink, [{"n": n} for n in range(20)], executor)
    finally:
        unblock.join()
    assert report.errors == {}
    assert cluster.count(index) == 20
    assert sink.statistics().retried >= 20
    assert dead.durable == []


@every_executor
def test_items_still_refused_after_the_retries_make_flush_raise(
    cluster: Cluster, executor: str
) -> None:
    index = cluster.new_index()
    cluster.create(index, {"n": {"type": "long"}})
    cluster.call("PUT", f"/{index}/_settings", {"index.blocks.read_only_allow_delete": True})
    try:
        sink = ElasticSearchSink(connect(cluster, retries=2), config={"index": index})
        report, failures = run(sink, [{"n": n} for n in range(5)], executor)
    finally:
        cluster.call("PUT", f"/{index}/_settings", {"index.blocks.read_only_allow_delete": None})
    assert report.statistics["ES"].source_error >= 1
    error = failures[0].exception
    assert isinstance(error, ElasticSearchError)
    assert error.status == 429
    assert sink.statistics().dead_lettered == 0  # not the documents' fault: never dead-lettered


@every_executor
def test_a_request_refused_whole_is_split_down_to_the_bad_item(
    cluster: Cluster, executor: str
) -> None:
    index = cluster.new_index()

    def feeder(event: dict[str, Any]) -> bytes:
        action = b'{"indx":{}}\n' if event["n"] == 13 else b'{"index":{}}\n'  # malformed
        return action + b'{"n":%d}\n' % event["n"]

    dead = DeadLetters()
    sink = ElasticSearchSink(
        connect(cluster), config={"index": index}, data_feeder=feeder, dead_letter=dead
    )
    report, _ = run(sink, [{"n": n} for n in range(40)], executor)
    assert sorted(d["n"] for d in cluster.docs(index)) == [n for n in range(40) if n != 13]
    assert [f.event for f in dead.durable] == [{"n": 13}]
    assert sink.statistics().splits >= 1
    assert report.errors == {}


@every_executor
def test_an_unreachable_cluster_acknowledges_nothing_and_a_restart_writes_all(
    cluster: Cluster, tmp_path: Path, executor: str
) -> None:
    (tmp_path / "in.log").write_text("".join(f"{n}\n" for n in range(30)))

    def lines() -> FileLineSource:
        return FileLineSource(config={"path": str(tmp_path / "*.log"), "mode": "r", "watch": False})

    def record(context: Any, line: str) -> dict[str, Any]:
        return {"_id": int(line), "n": int(line)}

    index = cluster.new_index()
    dead_url = f"http://127.0.0.1:{free_port()}"
    for url, retries in ((dead_url, 1), (f"{dead_url};{cluster.url}", 0)):
        sink = ElasticSearchSink(connect(url, retries=retries), config={"index": index})
        p = Pipeline("ES", error_policy="soft")
        p.build(lines(), record, sink)
        import pumpcore_executors

        from ._helpers import run_kwargs

        report = pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))  # type: ignore[arg-type]
        if url == dead_url:
            assert report.statistics["ES"].source_error >= 1
            assert (tmp_path / "in.log-locked").exists()  # nothing acknowledged
    assert sink.Connection.statistics().failovers >= 1
    assert (tmp_path / "in.log-processed").exists()
    assert sorted(d["n"] for d in cluster.docs(index)) == list(range(30))


@every_executor
def test_the_sink_conforms(cluster: Cluster, executor: str) -> None:
    index = cluster.new_index()
    cluster.create(index, {"seq": {"type": "long"}})
    c = connect(cluster)

    def durable() -> list[Any]:
        return [{"seq": d["seq"]} for d in cluster.docs(index, sort="seq")]

    conformance.check_sink(lambda: ElasticSearchSink(c, config={"index": index}), durable, executor)


def test_credentials_are_sent_and_never_shown(cluster: Cluster, tmp_path: Path) -> None:
    import base64

    from ._tls import TlsFront

    # Neither test server checks credentials: a front shows what the client sent.
    with TlsFront(("127.0.0.1", cluster.server.port), tmp_path, tls=False) as front:
        basic = connect(front.url, username="elastic", password="hunter2")
        assert basic.info()["version"]
        keyed = connect(front.url, api_key="key-s3cret")
        assert keyed.info()["version"]
        basic.close()
        keyed.close()
    assert b"Authorization: Basic " + base64.b64encode(b"elastic:hunter2") in front.sent
    assert b"Authorization: ApiKey key-s3cret" in front.sent


def test_credentials_never_show(cluster: Cluster) -> None:
    c = connect(
        f"http://user:pw-in-url@127.0.0.1:{free_port()}",
        username="elastic",
        password="hunter2",
        retries=0,
    )
    keyed = connect(cluster, api_key="key-s3cret")
    assert "hunter2" not in repr(c)
    assert "pw-in-url" not in repr(c)
    assert "key-s3cret" not in repr(keyed)
    assert "api-key" in repr(keyed)
    with pytest.raises(ElasticSearchError) as info:
        c.request("GET", "/")
    assert "hunter2" not in str(info.value)
    assert "pw-in-url" not in str(info.value)
    with pytest.raises(ConfigError) as refused:
        connect(cluster, password="hunter2")  # no username
    assert "hunter2" not in str(refused.value)
    assert keyed.info()["version"]["number"]  # the server takes the header


def test_configuration_mistakes_are_refused(cluster: Cluster) -> None:
    with pytest.raises(ConfigError, match="'index' must be a non-empty string"):
        Pipeline("P").build(IteratorSource([]), ElasticSearchSink(connect(cluster)))
    with pytest.raises(ConfigError, match="'url' must be one or more http"):
        connect("ftp://127.0.0.1:9200")


@every_executor
def test_tls_is_verified_with_the_given_ca(cluster: Cluster, tmp_path: Path, executor: str) -> None:
    from urllib3.exceptions import InsecureRequestWarning

    from ._tls import TlsFront

    index = cluster.new_index()
    with TlsFront(("127.0.0.1", cluster.server.port), tmp_path) as front:
        trusted = connect(front.url, ca_file=str(front.ca_file))
        report, _ = run(ElasticSearchSink(trusted, config={"index": index}), [{"n": 1}], executor)
        assert report.errors == {}
        untrusted = connect(front.url, retries=0)
        with pytest.raises(ElasticSearchError, match="SSLError"):
            untrusted.info()  # the system's CAs do not know ours
        untrusted.close()
        unverified = connect(front.url, verify=False)
        with pytest.warns(InsecureRequestWarning):
            assert unverified.info()["version"]
        unverified.close()
    assert cluster.count(index) == 1
