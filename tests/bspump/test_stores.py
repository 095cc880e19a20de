"""``bspump.kafka`` and ``bspump.elasticsearch`` against real servers (Tansu, noida-db): the
seed's Elasticsearch tutorial, BSPump's main job (Kafka → Elasticsearch) as a program, and the
components' BSPump arguments in process, on every executor (the adapters' clients are blocking
code on worker threads; nothing here is asyncio-only)."""

from __future__ import annotations

import importlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pumpcore_bspump as bspump
import pumpcore_executors
import pytest
from pumpcore_bspump import BSPumpApplication, elasticsearch, kafka
from pumpcore_bspump.common import IteratorSource, ListSink
from pumpcore_executors import ExecutorName, RunHandle

from pumpcore import ConfigError, Settings
from pumpcore.testing import conformance

from ..adapters.elasticsearch._cluster import Cluster
from ..adapters.kafka._kafka import GROUP_CONFIG, Broker
from ..executors.conftest import run_kwargs
from ._apis import public_apis
from ._run import copy_examples, run_pump

pytestmark = pytest.mark.timeout(120)

EXECUTORS = conformance.executor_params()


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with public_apis() as address:
        yield copy_examples(tmp_path_factory.mktemp("stores") / "examples", address)


def app_with(config: str) -> BSPumpApplication:
    app = BSPumpApplication(args=[])
    app.Settings = Settings.from_ini(config)
    return app


def stop_when(handle: RunHandle, done: Any, timeout: float = 60) -> None:
    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            time.sleep(0.02)
        handle.stop()

    threading.Thread(target=watch, daemon=True).start()


def es_count(noida: Cluster, index: str) -> int:
    try:
        return noida.count(index)
    except Exception:  # the index does not exist yet
        return 0


@pytest.mark.parametrize("executor", EXECUTORS)
def test_the_seeds_elasticsearch_tutorial(examples: Path, noida: Cluster, executor: str) -> None:
    index = noida.new_index("tutorial")
    noida.create(index, {"n": {"type": "integer"}})
    for n in range(3):
        noida.call("PUT", f"/{index}/_doc/d{n}?refresh=true", {"n": n})
    config = examples / f"es-{executor}.conf"
    config.write_text(
        f"[pipeline:SamplePipeline:ElasticSearchSource]\nindex={index}\n"
        f"[connection:ESConnection]\nurl={noida.url}\n"
    )
    done = run_pump(
        examples / "elasticsearch_source.py",
        ["-c", config.name, "--executor", executor],
        until=lambda out, err: out.count("'_source'") >= 3,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    hits = [h for h in done.stdout.split("\n{") if "'_source'" in h]
    assert len(hits) == 3  # fired once at start; the next firing is 5 s later
    for n in range(3):
        assert f"'_id': 'd{n}'" in done.stdout
        assert f"'_source': {{'n': {n}}}" in done.stdout


@pytest.mark.parametrize("executor", EXECUTORS)
def test_kafka_to_elasticsearch_as_bspump_does_it(
    examples: Path, broker: Broker, noida: Cluster, name: str, executor: str
) -> None:
    count, partitions = 60, 2
    topic, index = f"{name}-prices", noida.new_index("prices")
    broker.create(topic, partitions)
    broker.produce(
        topic, [(b"k%d" % (n % 3), orjson.dumps({"n": n, "usd": n})) for n in range(count)]
    )
    config = examples / f"k2es-{executor}.conf"
    config.write_text(
        f"[connection:KafkaConnection]\nbootstrap_servers={broker.bootstrap}\n"
        f"[connection:ESConnection]\nurl={noida.url}\n"
        f"[pipeline:KafkaToESPipeline:KafkaSource]\ntopic={topic}\ngroup_id={name}-g\n"
        f"consumer={json.dumps(GROUP_CONFIG)}\n"
        f"[pipeline:KafkaToESPipeline:EnrichProcessor]\nrate=113\n"
        f"[pipeline:KafkaToESPipeline:ElasticSearchSink]\nindex={index}\ndoctype=_doc\n"
        "bulk_max_count=25\n"
    )
    done = run_pump(
        examples / "kafka_to_es.py",
        ["-c", config.name, "--executor", executor],
        until=lambda out, err: "Traceback" in err or es_count(noida, index) >= count,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    docs = noida.docs(index)
    assert sorted(d["n"] for d in docs) == list(range(count))  # each once, none lost
    assert all(d["jpy"] == d["usd"] * 113 for d in docs)
    assert {d["partition"] for d in docs} <= set(range(partitions))
    # stopped cleanly: every message written to the index is committed to the group
    held = broker.counts(topic, partitions, count)
    committed = broker.committed(f"{name}-g", topic, partitions)
    assert [max(c, 0) for c in committed] == held  # -1001: nothing to commit in a partition


def test_connections_are_located_by_id_as_bspump_does(broker: Broker, noida: Cluster) -> None:
    app = app_with(
        f"[connection:KafkaConnection]\nbootstrap_servers={broker.bootstrap}\n"
        f"[connection:ESConnection]\nurl={noida.url}\nretries = 3\n"
    )
    svc = app.get_service("bspump.PumpService")
    es = svc.add_connection(elasticsearch.ElasticSearchConnection(app, "ESConnection"))
    assert es.Config["url"] == noida.url
    assert es.Config["retries"] == 3
    assert svc.Pump.locate_connection("ESConnection") is es  # pumpcore's components look there
    pipeline = bspump.Pipeline(app, "P")
    with pytest.raises(ConfigError, match=r"ElasticSearchSink: PumpService: no connection 'ES'"):
        elasticsearch.ElasticSearchSink(app, pipeline, "ES")
    with pytest.raises(ConfigError, match="is a ElasticSearchConnection, not a KafkaConnection"):
        kafka.KafkaSource(app, pipeline, "ESConnection")
    with pytest.raises(ConfigError, match=r"`connection` is required"):
        kafka.KafkaSink(app, pipeline)
    with pytest.raises(ConfigError, match="the first argument is the application"):
        kafka.KafkaSink(pipeline, "KafkaConnection")
    with pytest.raises(ConfigError, match="doctype"):
        elasticsearch.ElasticSearchSink(app, pipeline, es, config={"index": "x", "doctype": "t"})
    with pytest.raises(ConfigError, match="got 'KafkaConnection' in place of the application"):
        kafka.KafkaConnection("KafkaConnection")


def test_kafka_components_with_bspump_arguments(broker: Broker, name: str) -> None:
    # one executor: the Kafka → Elasticsearch program above runs these sources on every one
    executor: ExecutorName = "threads"
    topic = f"{name}-out"
    app = app_with(
        f"[connection:KafkaConnection]\nbootstrap_servers={broker.bootstrap}\n"
        f"[pipeline:Out:KafkaSink]\ntopic={topic}\n"
    )
    svc = app.get_service("bspump.PumpService")
    svc.add_connection(kafka.KafkaConnection(app, "KafkaConnection"))
    out = bspump.Pipeline(app, "Out")
    events = [({"kafka_key": n % 2}, {"n": n}) for n in range(6)]
    sink = kafka.KafkaSink(app, out, "KafkaConnection", lambda key: b"key-%d" % key)
    out.build(IteratorSource(app, out, [e for _, e in events]), KeyFromEvent(app, out), sink)
    initializer = kafka.KafkaTopicInitializer(app, "KafkaConnection", config={"num_partitions": 2})
    initializer.include_topics(pipeline=out)
    assert initializer.Topics == [topic]
    assert initializer.initialize_topics() == [topic]
    svc.add_pipeline(out)
    report = pumpcore_executors.run(svc.Pump, executor=executor, **run_kwargs(executor))
    assert report.errors == {}
    written = broker.read_all(topic, 6)
    assert sorted((m.key(), orjson.loads(m.value())["n"]) for m in written) == [  # type: ignore[arg-type]
        (b"key-%d" % (n % 2), n) for n in sorted(range(6), key=lambda n: (n % 2, n))
    ]

    # ... and back, through KafkaSource and BSPump's KafkaKeyFilter (keys in bytes)
    back = bspump.Pipeline(app, "Back")
    group = {"topic": topic, "group_id": f"{name}-g", "decode": "json", "consumer": GROUP_CONFIG}
    source = kafka.KafkaSource(app, back, "KafkaConnection", config=group)
    kept = ListSink(app, back)
    back.build(source, kafka.KafkaKeyFilter(app, back, [b"key-1"]), kept)
    handle = RunHandle()
    stop_when(handle, lambda: source.statistics().read >= 6)
    report = pumpcore_executors.run(back, executor=executor, handle=handle, **run_kwargs(executor))
    assert report.errors == {}
    assert sorted(e["n"] for e in kept.Events) == [1, 3, 5]


class KeyFromEvent(bspump.Processor):
    def process(self, context: Any, event: Any) -> Any:
        context["kafka_key"] = event["n"] % 2
        return event


def test_elasticsearch_lookup_loads_its_index(noida: Cluster) -> None:
    index = noida.new_index("hosts")
    for host, owner in (("a", "ann"), ("b", "bob")):
        noida.call("PUT", f"/{index}/_doc/{host}?refresh=true", {"owner": owner})
    app = app_with(f"[connection:ESConnection]\nurl={noida.url}\n[lookup:Hosts]\nindex={index}\n")
    svc = app.get_service("bspump.PumpService")
    svc.add_connection(elasticsearch.ElasticSearchConnection(app, "ESConnection"))
    lookup = svc.add_lookup(elasticsearch.ElasticSearchLookup(app, "ESConnection", "Hosts"))
    assert lookup.provider is not None
    lookup.set(lookup.provider.load())  # what an executor does at start
    assert dict(lookup) == {"a": {"owner": "ann"}, "b": {"owner": "bob"}}


def test_without_the_client_library_the_module_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)
    for module in [m for m in sys.modules if m.startswith("pumpcore_kafka")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.delitem(sys.modules, "pumpcore_bspump.kafka")
    with pytest.raises(
        ImportError, match=r"bspump\.kafka needs .* pip install 'pumpcore\[kafka\]'"
    ):
        importlib.import_module("pumpcore_bspump.kafka")
