"""MQTTSink: publishes events with QoS 1; ``flush`` returns only once the broker acknowledged
(PUBACK) every one.

Rules:
1. ``process`` only encodes and buffers (it runs on the pipelines' thread); ``flush`` hands the
   buffer to paho in order and waits until paho reports each message's PUBACK
   (``on_publish``).
2. paho keeps QoS 1 messages until their PUBACK and sends them again after a reconnection, so a
   dropped connection only delays a flush (a message may then arrive twice: at-least-once);
   ``flush`` raises ``MQTTPublishError`` when any is still unacknowledged after
   ``publish_timeout`` seconds, or when paho refused to queue one.
3. When ``flush`` raises, the messages not acknowledged are given up (counted as ``failed``):
   the run acknowledges nothing from there on, so a restart reads and publishes them again.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
from paho.mqtt.client import Client
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from pumpcore import BlockingSink, ConfigError, ConfigRule, Context
from pumpcore.config import in_range
from pumpcore.lowlevel import encode_payload

from ._connection import Link, MQTTConnection

if TYPE_CHECKING:
    from pumpcore import Pipeline


class MQTTPublishError(Exception):
    """Messages the broker did not acknowledge (module rule 2); names the sink and the cause."""


@attrs.frozen
class MQTTSinkStatistics:
    """What an ``MQTTSink`` did so far.

    Attributes:
        published: messages the broker acknowledged.
        failed: messages given up when ``flush`` raised.
        reconnects: connections lost and reopened.
    """

    published: int
    failed: int
    reconnects: int


class MQTTSink(BlockingSink):
    """Publishes each event to an MQTT topic with QoS 1, acknowledged by the broker before
    ``flush`` returns; see the module's rules.

    ``bytes`` go as they are, ``str`` as UTF-8, anything else as JSON (orjson). The topic is the
    context's ``topic`` when it has one, the config's otherwise.

    Args:
        connection: the broker (an ``MQTTConnection``); the default is localhost's.

    Config:
        topic: the topic when the context gives none.
        retain: publish as retained messages.
        client_id: the client id (``""``: a random one).
        publish_timeout: seconds a flush waits for every PUBACK (rule 2).

    Example:
        >>> MQTTSink(config={"topic": "alerts"}).Topic
        'alerts'
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "topic": "",
        "retain": False,
        "client_id": "",
        "publish_timeout": 60.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "publish_timeout": in_range(0.01, 86400),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        connection: MQTTConnection | None = None,
    ) -> None:
        #: The broker this sink publishes to.
        self.Connection = connection if connection is not None else MQTTConnection()
        super().__init__(pipeline, id, config)
        self._buffer: list[tuple[str, bytes]] = []
        self._link: Link | None = None
        self._acked: set[int] = set()  # packet ids paho reported acknowledged
        self._acked_changed = threading.Condition()
        self._n_published = self._n_failed = self._reconnects = 0

    def apply_config(self) -> None:
        super().apply_config()
        config = self.Config
        #: The topic when the context gives none.
        self.Topic = str(config["topic"])
        self._retain = bool(config["retain"])
        self._client_id = str(config["client_id"]) or f"pumpcore-{uuid.uuid4().hex[:12]}"
        self._publish_timeout = float(config["publish_timeout"])
        if self.Pipeline is not None and not self.Topic:
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: config key 'topic' is empty; "
                "give the topic to publish to"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.Id!r}, topic={self.Topic!r}, {self.Connection!r})"

    def statistics(self) -> MQTTSinkStatistics:
        """A frozen snapshot of the counters."""
        link = self._link
        return MQTTSinkStatistics(
            self._n_published,
            self._n_failed,
            self._reconnects + (0 if link is None else link.disconnects),
        )

    def encode(self, event: Any) -> bytes:
        """The payload for ``event``; override it for another format.

        Raises:
            TypeError: the event cannot be written as JSON.
        """
        return encode_payload(event)

    def process(self, context: Context, event: Any) -> None:
        """Encode the event and buffer it for the next flush.

        Raises:
            TypeError: the event cannot be encoded (the pipeline's error policy decides).
        """
        topic = context.get("topic")
        self._buffer.append((self.Topic if topic is None else str(topic), self.encode(event)))

    # ------------------------------------------------------------ BlockingSink

    def open(self) -> None:
        """Connect.

        Raises:
            ConnectionError: no connection within the connection's ``connect_timeout``.
        """
        link = self.Connection.client(
            f"{type(self).__name__} {self.Id!r}",
            self._client_id,
            persistent=False,
            manual_ack=False,
        )
        link.client.on_publish = self._on_publish
        link.client.max_inflight_messages_set(256)  # paho's 20 would cap a flush's pace
        self._link = link
        link.start()

    def _on_publish(
        self,
        client: Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._acked_changed:
            self._acked.add(mid)
            self._acked_changed.notify_all()

    def flush(self) -> None:
        """Publish everything buffered, in order, each acknowledged (rules 1-3).

        Raises:
            MQTTPublishError: paho refused a message, or one stayed unacknowledged for
                ``publish_timeout`` seconds.
        """
        link = self._link
        assert link is not None, "flush before open"
        pending, self._buffer = self._buffer, []
        if not pending:
            return
        deadline = time.monotonic() + self._publish_timeout
        with self._acked_changed:
            self._acked.clear()  # late PUBACKs of a flush that gave up: not ours
        waiting: set[int] = set()
        for n, (topic, payload) in enumerate(pending):
            info = link.client.publish(topic, payload, qos=1, retain=self._retain)
            # NO_CONN: kept by paho and sent once connected again (rule 2).
            if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                self._fail(len(pending) - n + len(waiting), f"paho refused it: rc={info.rc!r}")
            waiting.add(info.mid)
        with self._acked_changed:
            while True:
                done = waiting & self._acked
                waiting -= done
                self._acked -= done
                self._n_published += len(done)
                left = deadline - time.monotonic()
                if not waiting or left <= 0:
                    break
                self._acked_changed.wait(left)
        if waiting:
            self._fail(len(waiting), f"no PUBACK within publish_timeout={self._publish_timeout} s")

    def _fail(self, count: int, why: str) -> None:
        self._n_failed += count
        raise MQTTPublishError(
            f"{type(self).__name__} {self.Id!r}: {count} messages not acknowledged by "
            f"{self.Connection.address}: {why}"
        )

    def close(self) -> None:
        """Disconnect. Messages still buffered (the last flush failed) are not sent; their
        positions were never acknowledged."""
        link, self._link = self._link, None
        self._buffer.clear()
        if link is not None:
            self._reconnects += link.disconnects
            link.close()
