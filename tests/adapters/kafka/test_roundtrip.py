"""Kafka → pump (parse, transform, filter) → Kafka, against a real broker, under every
executor: every good message arrives once, in order per partition, with its key and headers;
bad ones are rejected and counted; the committed offsets cover everything."""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName, RunHandle
from pumpcore_kafka import KafkaKeyFilter, KafkaSink, KafkaSource

from pumpcore import Pipeline, Pump
from tests.executors.conftest import run_kwargs

from ._kafka import GROUP_CONFIG, Broker

pytestmark = pytest.mark.timeout(120)

COUNT = 600
PARTITIONS = 3


def records() -> list[tuple[bytes, bytes]]:
    """JSON records keyed k0..k4; every 50th is not JSON, every 75th not even UTF-8."""
    out = []
    for n in range(COUNT):
        value = orjson.dumps({"n": n, "usd": n})
        if n % 50 == 7:
            value = b"{not json %d" % n
        elif n % 75 == 11:
            value = b"\xff\xfe%d" % n
        out.append((b"k%d" % (n % 5), value))
    return out


def stop_when(handle: RunHandle, done: Any, timeout: float = 60) -> threading.Thread:
    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            time.sleep(0.02)
        handle.stop()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def enrich(context: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    event["jpy"] = event["usd"] * 113
    event["partition"] = context["kafka_partition"]
    event["offset"] = context["kafka_offset"]
    return event


def test_produce_pump_sink_round_trip(broker: Broker, name: str, executor: ExecutorName) -> None:
    source_topic, sink_topic, group = f"{name}-in", f"{name}-out", f"{name}-g"
    broker.create(source_topic, PARTITIONS)
    broker.create(sink_topic, PARTITIONS)
    sent = records()
    broker.produce(source_topic, sent)

    pump = Pump()
    pump.add_connection(broker.connection("Kafka"))
    source = KafkaSource(
        id="in",
        connection="Kafka",
        config={
            "topic": source_topic,
            "group_id": group,
            "decode": "json",
            "consumer": GROUP_CONFIG,
        },
    )
    sink = KafkaSink(connection="Kafka", config={"topic": sink_topic})
    p = Pipeline("RoundTrip")
    p.build(source, enrich, KafkaKeyFilter(keys=[b"k0", b"k1", "k2", b"k3"]), sink)
    pump.add_pipeline(p)
    handle = RunHandle()
    stop_when(handle, lambda: source.statistics().read >= COUNT)
    report = pumpcore_executors.run(pump, executor=executor, handle=handle, **run_kwargs(executor))

    assert report.errors == {}
    bad = {n for n in range(COUNT) if n % 50 == 7 or n % 75 == 11}
    kept = [n for n in range(COUNT) if n not in bad and n % 5 != 4]
    stats = report.statistics["RoundTrip"].as_dict()
    assert stats["event.rejected"] == len(bad), stats
    assert stats["event.drop"] == COUNT - len(bad) - len(kept), stats

    out = broker.read_all(sink_topic, len(kept))
    events = [(m.key(), m.headers(), orjson.loads(m.value())) for m in out]  # type: ignore[arg-type]
    assert sorted(e["n"] for _, _, e in events) == kept  # each once, none lost
    for key, headers, event in events:
        assert key == b"k%d" % (event["n"] % 5)
        assert event["jpy"] == event["n"] * 113
        assert headers is None
    # Within an output partition, each input partition's messages keep their order.
    runs: dict[tuple[int, int], list[int]] = {}
    for message, (_, _, event) in zip(out, events, strict=True):
        runs.setdefault((message.partition(), event["partition"]), []).append(event["offset"])  # type: ignore[arg-type]
    assert all(offsets == sorted(offsets) for offsets in runs.values())
    # Everything, rejects included, is committed once the run stopped cleanly.
    counts = broker.counts(source_topic, PARTITIONS, COUNT)
    assert broker.committed(group, source_topic, PARTITIONS) == counts
