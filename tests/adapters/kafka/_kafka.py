"""Helpers the Kafka tests share: a broker's address and plain confluent-kafka clients to fill
topics and read them back (the ground truth the adapter is checked against)."""

from __future__ import annotations

import time
from collections.abc import Iterable

import attrs
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from pumpcore_kafka import KafkaConnection, KafkaTopicInitializer

# The first join of a group takes ~23 s on Tansu with librdkafka's default session timeout.
GROUP_CONFIG = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}


@attrs.frozen
class Broker:
    bootstrap: str

    def connection(self, id: str = "KafkaConnection") -> KafkaConnection:
        return KafkaConnection(id, config={"bootstrap_servers": self.bootstrap})

    def create(self, topic: str, partitions: int = 1) -> None:
        init = KafkaTopicInitializer(
            self.connection(), config={"topics": topic, "num_partitions": partitions}
        )
        assert init.initialize() == [topic]

    def produce(self, topic: str, records: Iterable[tuple[bytes | None, bytes]]) -> None:
        """Write (key, value) records, keyed to their partition by the default partitioner."""
        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5})
        for key, value in records:
            while True:
                try:
                    producer.produce(topic, value, key)
                    break
                except BufferError:
                    producer.poll(0.05)
        assert producer.flush(30) == 0

    def read_all(self, topic: str, count: int, timeout: float = 30.0) -> list[Message]:
        """At least ``count`` messages of ``topic`` from the start (all partitions), waiting
        up to ``timeout`` seconds; then whatever more arrives within a short grace."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"reader-{time.monotonic_ns()}",
                "enable.auto.commit": False,
            }
        )
        try:
            metadata = consumer.list_topics(topic, timeout=10)
            partitions = list(metadata.topics[topic].partitions)
            consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
            out: list[Message] = []
            deadline = time.monotonic() + timeout
            quiet_until = None
            while time.monotonic() < deadline:
                batch = [m for m in consumer.consume(1000, 0.2) if m.error() is None]
                out.extend(batch)
                if len(out) >= count:
                    if quiet_until is None:
                        quiet_until = time.monotonic() + 0.5
                    if not batch and time.monotonic() >= quiet_until:
                        break
            return out
        finally:
            consumer.close()

    def tail(self, topic: str, partitions: int) -> Tail:
        """A reader of ``topic`` from its start that keeps what it read."""
        return Tail(self.bootstrap, topic, partitions)

    def counts(self, topic: str, partitions: int, total: int) -> list[int]:
        """How many messages each partition holds, counted by reading them (``total`` in all):
        Tansu's high watermarks may lag behind what it holds."""
        tail = self.tail(topic, partitions)
        try:
            tail.wait(total)
            counts = [0] * partitions
            for message in tail.messages:
                counts[message.partition()] += 1  # type: ignore[index]
            return counts
        finally:
            tail.close()

    def committed(self, group: str, topic: str, partitions: int) -> list[int]:
        """The group's committed offset per partition (-1001: none)."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group})
        try:
            tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], 10)
            return [tp.offset for tp in tps]
        finally:
            consumer.close()


class Tail:
    """Reads a topic from the start, keeping every message (``read`` takes what came since):
    counting messages, not high watermarks, which a broker may report behind what it holds."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self.messages: list[Message] = []
        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "tail", "enable.auto.commit": False}
        )
        self._consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])

    def read(self, quiet: float = 0.3) -> int:
        """Take what arrived until nothing came for ``quiet`` seconds; return the count."""
        while batch := self._consumer.consume(1000, quiet):
            self.messages.extend(m for m in batch if m.error() is None)
        return len(self.messages)

    def wait(self, count: int, timeout: float = 30) -> None:
        """Read until at least ``count`` messages came; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self.read(0.2) < count:
            assert time.monotonic() < deadline, f"{len(self.messages)} of {count} came"

    def close(self) -> None:
        self._consumer.close()
