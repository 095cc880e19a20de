"""The AMQP adapter's tests run against the machine's RabbitMQ (DEVELOPERS.md), each on queues of
its own, deleted afterwards."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pika
import pytest
from pika.adapters.blocking_connection import BlockingChannel

from ...executors.conftest import executor as executor
from ...servers import service


def url(address: tuple[str, int] | None = None) -> str:
    host, port = address or service("rabbitmq")
    return f"amqp://guest:guest@{host}:{port}/%2F"


class Broker:
    """Test-side access to RabbitMQ: queues made and deleted, messages published and taken.
    Each call opens its own connection (the sinks' ``read_durable`` is called from workers)."""

    def __init__(self) -> None:
        self.url = url()
        self.queues: list[str] = []
        self.drained: dict[str, list[bytes]] = {}
        self._lock = threading.Lock()

    def channel(
        self,
    ) -> tuple[pika.BlockingConnection, BlockingChannel]:
        conn = pika.BlockingConnection(pika.URLParameters(self.url))
        return conn, conn.channel()

    def queue(self, label: str) -> str:
        name = f"pumpcore.test.{label}.{uuid.uuid4().hex[:8]}"
        conn, channel = self.channel()
        try:
            channel.queue_declare(name, durable=True)
        finally:
            conn.close()
        self.queues.append(name)
        return name

    def publish(self, queue: str, bodies: list[bytes]) -> None:
        conn, channel = self.channel()
        try:
            channel.confirm_delivery()
            for body in bodies:
                channel.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2))
        finally:
            conn.close()

    def count(self, queue: str) -> int:
        """Messages ready in ``queue`` (a closed consumer's unacknowledged ones are back)."""
        conn, channel = self.channel()
        try:
            return channel.queue_declare(queue, passive=True).method.message_count
        finally:
            conn.close()

    def drain(self, queue: str) -> list[bytes]:
        """Every message ``queue`` received so far, in order: taken out of it, kept here."""
        with self._lock:
            conn, channel = self.channel()
            try:
                got = self.drained.setdefault(queue, [])
                if channel.queue_declare(queue, passive=True).method.message_count:
                    for method, _props, body in channel.consume(
                        queue, auto_ack=True, inactivity_timeout=0.05
                    ):
                        if method is None:
                            break
                        assert body is not None
                        got.append(body)
                    channel.cancel()
                return list(got)
            finally:
                conn.close()

    def delete_all(self) -> None:
        conn, channel = self.channel()
        try:
            for name in self.queues:
                channel.queue_delete(name)
        finally:
            conn.close()


@pytest.fixture
def broker() -> Iterator[Broker]:
    b = Broker()
    try:
        yield b
    finally:
        b.delete_all()
