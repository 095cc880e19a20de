"""The MQTT adapter's tests run against the machine's Mosquitto (DEVELOPERS.md), each on topics
and client ids of its own; the persistent sessions they make are wiped afterwards."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from paho.mqtt.client import Client, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion

from ...executors.conftest import executor as executor
from ...servers import service


def new_client(client_id: str = "", *, persistent: bool = False) -> Client:
    host, port = service("mosquitto")
    client = Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent)
    client.connect(host, port)
    client.loop_start()
    deadline = time.monotonic() + 5
    while not client.is_connected():
        assert time.monotonic() < deadline, "no connection to Mosquitto"
        time.sleep(0.01)
    return client


class Collector:
    """A subscriber that keeps every payload published to a topic (QoS 1), in order."""

    def __init__(self, topic: str) -> None:
        self.payloads: list[bytes] = []
        self._lock = threading.Lock()
        self.client = new_client()
        self.client.on_message = self._on_message
        done = threading.Event()
        self.client.on_subscribe = lambda *args: done.set()
        self.client.subscribe(topic, 1)
        assert done.wait(5)

    def _on_message(self, client: Client, userdata: object, message: MQTTMessage) -> None:
        with self._lock:
            self.payloads.append(bytes(message.payload))

    def received(self, settle: float = 0.05) -> list[bytes]:
        """What came so far, once nothing more came for ``settle`` seconds (what the broker
        acknowledged reaches subscribers a moment later)."""
        while True:
            with self._lock:
                seen = len(self.payloads)
            time.sleep(settle)
            with self._lock:
                if len(self.payloads) == seen:
                    return list(self.payloads)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Mosquitto:
    """Test-side access: unique names, persistent sessions made and wiped, publishing."""

    def __init__(self) -> None:
        self.sessions: list[str] = []
        self.collectors: list[Collector] = []
        self.token = uuid.uuid4().hex[:10]

    def topic(self, label: str) -> str:
        return f"pumpcore/test/{self.token}/{label}"

    def session(self, label: str, topics: list[str]) -> str:
        """A persistent session subscribed to ``topics`` with QoS 1: messages published from
        now on are kept for its client id. Returns the client id."""
        client_id = f"pumpcore-test-{label}-{self.token}"
        client = new_client(client_id, persistent=True)
        done = threading.Event()
        client.on_subscribe = lambda *args: done.set()
        client.subscribe([(t, 1) for t in topics])
        assert done.wait(5)
        client.disconnect()
        client.loop_stop()
        self.sessions.append(client_id)
        return client_id

    def collector(self, topic: str) -> Collector:
        collector = Collector(topic)
        self.collectors.append(collector)
        return collector

    def publish(self, topic: str, payloads: list[bytes]) -> None:
        client = new_client()
        infos = [client.publish(topic, p, qos=1) for p in payloads]
        for info in infos:
            info.wait_for_publish(10)
        client.disconnect()
        client.loop_stop()

    def wipe(self) -> None:
        for collector in self.collectors:
            collector.close()
        for client_id in self.sessions:  # a clean session replaces (and so ends) the old one
            client = new_client(client_id, persistent=False)
            client.disconnect()
            client.loop_stop()


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    broker = Mosquitto()
    try:
        yield broker
    finally:
        broker.wipe()
