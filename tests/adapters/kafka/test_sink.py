"""KafkaSink against the real broker: a full producer queue holds events back in order (nothing
dropped, nothing blocks the loop) and the flush delivers them all; topics are created once."""

from __future__ import annotations

import orjson
import pumpcore_executors
from pumpcore_executors import ExecutorName
from pumpcore_kafka import KafkaSink, KafkaTopicInitializer

from pumpcore import Pipeline
from pumpcore.common import IteratorSource
from tests.executors.conftest import run_kwargs

from ._kafka import Broker

COUNT = 2000


def test_a_full_producer_queue_holds_back_without_loss(
    broker: Broker, name: str, executor: ExecutorName
) -> None:
    broker.create(name, 1)
    sink = KafkaSink(
        connection=broker.connection(),
        # A queue of 50 messages: most events wait in the sink until a flush makes room.
        config={"topic": name, "producer": {"queue.buffering.max.messages": 50}},
    )
    p = Pipeline("Full")
    p.build(IteratorSource([{"n": n} for n in range(COUNT)]), sink)
    report = pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))
    assert report.errors == {}
    stats = sink.statistics()
    assert stats.produced == COUNT
    assert stats.failed == 0
    assert stats.queue_full > 0
    tail = broker.tail(name, 1)
    tail.wait(COUNT)
    tail.close()
    # One partition: the broker holds them in the order they were processed.
    assert [orjson.loads(m.value())["n"] for m in tail.messages] == list(range(COUNT))  # type: ignore[arg-type]


def test_topic_initializer_is_idempotent(broker: Broker, name: str) -> None:
    config = {"topics": f"{name}-a, {name}-b", "num_partitions": 4}
    init = KafkaTopicInitializer(broker.connection(), config=config)
    assert init.initialize() == [f"{name}-a", f"{name}-b"]
    assert init.initialize() == []
    assert broker.counts(f"{name}-a", 4, 0) == [0, 0, 0, 0]  # four partitions, all readable
