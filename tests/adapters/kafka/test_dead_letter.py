"""Dead-lettering to a Kafka topic, against the real broker, under every executor: a message that
does not decode lands in the dead-letter topic as its raw bytes, with its key, its headers and
the reason; an event a processor fails on lands there as JSON; good ones reach the output; the
counters match, and every offset is committed."""

from __future__ import annotations

from typing import Any

import orjson
import pumpcore_executors
import pytest
from confluent_kafka import Message, Producer
from pumpcore_executors import ExecutorName, RunHandle
from pumpcore_kafka import KafkaDeadLetterSink, KafkaSink, KafkaSource

from pumpcore import Pipeline
from tests.executors.conftest import run_kwargs

from ._kafka import Broker
from .test_roundtrip import stop_when

pytestmark = pytest.mark.timeout(60)

COUNT = 300
HEADERS: list[tuple[str, str | bytes | None]] = [("trace", b"abc")]


def value(n: int) -> bytes:
    if n % 25 == 7:
        return b"{not json %d" % n
    if n % 40 == 11:
        return b"\xff\xfe%d" % n
    return orjson.dumps({"n": n})


BAD = {n for n in range(COUNT) if n % 25 == 7 or n % 40 == 11}
FAILING = {n for n in range(COUNT) if n % 30 == 3 and n not in BAD}
GOOD = [n for n in range(COUNT) if n not in BAD and n not in FAILING]


def header_map(message: Message) -> dict[str, bytes]:
    found = message.headers() or []
    pairs = found.items() if isinstance(found, dict) else found
    return {k: v.encode() if isinstance(v, str) else v or b"" for k, v in pairs}


def check(context: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    if event["n"] in FAILING:
        raise ValueError(f"odd n {event['n']}")
    return event


def test_rejects_and_failures_land_in_a_dead_letter_topic(
    broker: Broker, name: str, executor: ExecutorName
) -> None:
    source_topic, out, dead, group = f"{name}-in", f"{name}-out", f"{name}-dlq", f"{name}-g"
    for topic in (source_topic, out, dead):
        broker.create(topic, 1)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    for n in range(COUNT):
        producer.produce(source_topic, value(n), b"k%d" % n, headers=HEADERS)
    assert producer.flush(30) == 0

    connection = broker.connection()
    source = KafkaSource(
        id="in",
        connection=connection,
        config={"topic": f"{source_topic}:0", "group_id": group, "decode": "json"},
    )
    p = Pipeline("DLQ", error_policy="soft")
    p.build(source, check, KafkaSink(connection=connection, config={"topic": out}))
    p.set_dead_letter(KafkaDeadLetterSink(connection=connection, config={"topic": dead}))
    handle = RunHandle()
    stop_when(handle, lambda: source.statistics().read >= COUNT)
    report = pumpcore_executors.run(p, executor=executor, handle=handle, **run_kwargs(executor))

    assert report.errors == {}
    stats = report.statistics["DLQ"].as_dict()
    assert stats["event.rejected"] == len(BAD), stats
    assert stats["event.dead_letter"] == len(BAD) + len(FAILING), stats
    assert stats["dead_letter.error"] == 0, stats
    assert sorted(orjson.loads(m.value())["n"] for m in broker.read_all(out, len(GOOD))) == GOOD  # type: ignore[arg-type]

    letters = broker.read_all(dead, len(BAD) + len(FAILING))
    assert len(letters) == len(BAD) + len(FAILING)
    seen_bad, seen_failing = set(), set()
    for message in letters:
        headers = header_map(message)
        assert headers["trace"] == b"abc"  # the message's own headers are kept
        assert headers["x-pumpcore-pipeline"] == b"DLQ"
        assert headers["x-pumpcore-kafka-topic"] == source_topic.encode()
        offset = int(headers["x-pumpcore-kafka-offset"].decode())
        assert message.key() == b"k%d" % offset  # one partition: the offset is n
        error = headers["x-pumpcore-error"].decode()
        if offset in BAD:
            assert message.value() == value(offset)  # the raw bytes, as they came
            assert headers["x-pumpcore-component"] == b"in"
            assert error.startswith("RejectedInputError: "), error
            seen_bad.add(offset)
        else:
            assert orjson.loads(message.value()) == {"n": offset}  # type: ignore[arg-type]
            assert headers["x-pumpcore-component"] == b"check"
            assert error == f"ValueError: odd n {offset}"
            seen_failing.add(offset)
    assert seen_bad == BAD
    assert seen_failing == FAILING
    assert broker.committed(group, source_topic, 1) == [COUNT]
