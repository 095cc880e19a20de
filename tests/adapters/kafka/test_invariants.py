"""Invariants over generated inputs, against the real broker under every executor: each good
message is written exactly once (a clean run), in order per partition, with its key (or the
configured one) and the configured headers; each bad one is rejected and counted; everything
read is committed."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import orjson
import pumpcore_executors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pumpcore_executors import ExecutorName, RunHandle
from pumpcore_kafka import KafkaSink, KafkaSource

from pumpcore import Pipeline
from tests.executors.conftest import run_kwargs

from ._kafka import Broker

inputs = st.lists(st.tuples(st.sampled_from([None, b"a", b"b", b"c"]), st.booleans()), max_size=40)


@settings(
    max_examples=2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # the executor's name only
)
@given(records=inputs, partitions=st.integers(1, 3))
def test_each_good_message_once_in_order_each_bad_one_counted(
    broker: Broker, executor: ExecutorName, records: list[tuple[bytes | None, bool]],
    partitions: int,
) -> None:  # fmt: skip
    name = f"h{uuid.uuid4().hex[:10]}"
    broker.create(f"{name}-in", partitions)
    broker.create(f"{name}-out", partitions)
    values = [orjson.dumps({"n": n}) if ok else b"\xffbad" for n, (_, ok) in enumerate(records)]
    broker.produce(f"{name}-in", [(k, v) for (k, _), v in zip(records, values, strict=True)])

    def mark(context: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
        event["at"] = [context["kafka_partition"], context["kafka_offset"]]
        return event

    source = KafkaSource(
        connection=broker.connection(),
        config={
            "topic": ",".join(f"{name}-in:{p}" for p in range(partitions)),
            "group_id": name,
            "decode": "json",
        },
    )
    sink = KafkaSink(
        connection=broker.connection(),
        config={
            "topic": f"{name}-out",
            "key": "none",
            "headers": {"via": "pump"},
            "flush_timeout": 10,
        },
    )
    p = Pipeline("Invariants", error_policy="soft")
    p.build(source, mark, sink)
    handle = RunHandle()

    def watch() -> None:
        deadline = time.monotonic() + 30
        while source.statistics().read < len(records) and time.monotonic() < deadline:
            time.sleep(0.01)
        handle.stop()

    threading.Thread(target=watch, daemon=True).start()
    report = pumpcore_executors.run(p, executor=executor, handle=handle, **run_kwargs(executor))
    assert report.errors == {}

    good = [n for n, (_, ok) in enumerate(records) if ok]
    stats = report.statistics["Invariants"].as_dict()
    assert stats["event.rejected"] == len(records) - len(good)
    tail = broker.tail(f"{name}-out", partitions)
    tail.wait(len(good))
    tail.close()
    written = [orjson.loads(m.value()) for m in tail.messages]  # type: ignore[arg-type]
    assert sorted(e["n"] for e in written) == good  # exactly once
    for message, event in zip(tail.messages, written, strict=True):
        assert message.key() == (records[event["n"]][0] or b"none")
        assert message.headers() == [("via", b"pump")]
    # Order: within an output partition, each input partition's messages keep their order.
    runs: dict[tuple[int, int], list[int]] = {}
    for message, event in zip(tail.messages, written, strict=True):
        runs.setdefault((message.partition(), event["at"][0]), []).append(event["at"][1])  # type: ignore[arg-type]
    assert all(offsets == sorted(offsets) for offsets in runs.values())
    # Everything read, rejects included, is committed.
    counts = broker.counts(f"{name}-in", partitions, len(records))
    assert broker.committed(name, f"{name}-in", partitions) == [c or -1001 for c in counts]
