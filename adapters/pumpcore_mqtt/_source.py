"""MQTTSource: subscribes with QoS 1 in a persistent session and sends each PUBACK only once the
sinks flushed the message.

Rules (at-least-once, ``pumpcore/_io_source.py``):
1. The client connects with a fixed ``client_id`` and a persistent session (clean session off),
   subscribes to ``topics`` with QoS 1 and acknowledges by hand (paho's ``manual_ack``): the
   broker keeps every message not acknowledged, and those that arrive while the pump is down,
   and delivers them again on the next connection with that ``client_id``.
2. A position is ``(generation, packet id)``; ``acknowledge`` sends the PUBACKs in read order
   (MQTT's rule for acknowledgements). A packet id of a lost connection is never acknowledged
   on a newer one: the broker delivers the message again (a duplicate, never a loss); messages
   read but not yet taken are dropped then, for the same reason.
3. The broker bounds the unacknowledged messages in flight to a client (Mosquitto:
   ``max_inflight_messages``) and queues the rest for the session, up to its own limit
   (Mosquitto: ``max_queued_messages``, 1000 by default): beyond it the *broker* drops QoS 1
   messages for a session that is away or behind. Size that limit for your outages.
4. A payload that does not decode (``decode = text | json``) is returned as a ``Rejected``:
   counted, dead-lettered, acknowledged with its batch; the subscription goes on.
5. Closing the connection while the broker still sends (messages beyond the acknowledged ones)
   makes TCP reset it, and a reset throws away what the broker had not read yet: the last
   PUBACKs. So ``close`` first publishes an empty QoS 1 message to
   ``pumpcore/barrier/<client_id>`` and waits for its PUBACK: the broker answers packets in
   order, so it has read every PUBACK before.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
from paho.mqtt.client import Client, ConnectFlags, MQTTMessage
from paho.mqtt.enums import MQTTErrorCode

from pumpcore import BlockingSource, ConfigError, ConfigRule, Context, Received
from pumpcore.config import at_least, in_range, one_of
from pumpcore.lowlevel import PAYLOAD_DECODINGS, Rejected, decode_payload

from ._connection import Link, MQTTConnection

if TYPE_CHECKING:
    from pumpcore import Pipeline

# How long an empty ``read`` waits for a message before it returns ``[]``.
_READ_WAIT = 0.1


@attrs.frozen
class MQTTSourceStatistics:
    """What an ``MQTTSource`` did so far.

    Attributes:
        received: messages handed to the pipeline (bad ones included).
        rejected: messages whose payload did not decode.
        acknowledged: messages acknowledged (PUBACK sent).
        stale: messages dropped before the pipeline took them because their connection was
            lost (the broker delivers them again).
        stale_acks: acknowledgements not sent because their connection was lost.
        reconnects: connections lost and reopened.
    """

    received: int
    rejected: int
    acknowledged: int
    stale: int
    stale_acks: int
    reconnects: int


class MQTTSource(BlockingSource):
    """Subscribes to MQTT topics with QoS 1, acknowledging after the commit; see the module's
    rules.

    Each event is the payload (``decode``); its context holds ``mqtt``: a dict with ``topic``,
    ``retain`` and ``dup`` (a redelivery).

    Args:
        connection: the broker (an ``MQTTConnection``); the default is localhost's.

    Config:
        topics: comma-separated topic filters (wildcards allowed). Required.
        client_id: the client id the persistent session belongs to. Required, and unique per
            consumer: a second client with the same id takes the session over.
        decode: ``bytes``, ``text`` (``encoding``) or ``json``.
        encoding: the text encoding for ``decode = text``.
        end_after_idle: seconds connected without a message after which the input ends; 0: never.

    Example:
        >>> MQTTSource(config={"topics": "sensors/#, alarms/+", "client_id": "pump-1"}).Topics
        ['sensors/#', 'alarms/+']
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "topics": "",
        "client_id": "",
        "decode": "bytes",
        "encoding": "utf-8",
        "end_after_idle": 0.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "decode": one_of(*PAYLOAD_DECODINGS),
        "end_after_idle": at_least(0) & in_range(0, 86400),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        connection: MQTTConnection | None = None,
    ) -> None:
        #: The broker this source subscribes at.
        self.Connection = connection if connection is not None else MQTTConnection()
        super().__init__(pipeline, id, config)
        self._link: Link | None = None
        self._messages: deque[tuple[int, MQTTMessage]] = deque()
        self._arrived = threading.Condition()
        self._last_arrival = 0.0
        self._n_received = self._n_rejected = self._n_acked = 0
        self._n_stale = self._n_stale_acks = self._reconnects = 0

    def apply_config(self) -> None:
        super().apply_config()
        config = self.Config
        #: The topic filters subscribed to.
        self.Topics = [t.strip() for t in str(config["topics"]).split(",") if t.strip()]
        #: The persistent session's client id.
        self.ClientId = str(config["client_id"])
        self._decode = str(config["decode"])
        self._encoding = str(config["encoding"])
        self._end_after_idle = float(config["end_after_idle"])
        if self.Pipeline is not None and not (self.Topics and self.ClientId):
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: config keys 'topics' and 'client_id' "
                f"must both be given, got topics={config['topics']!r}, "
                f"client_id={self.ClientId!r}"
            )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.Id!r}, topics={self.Topics!r}, "
            f"client_id={self.ClientId!r}, {self.Connection!r})"
        )

    def statistics(self) -> MQTTSourceStatistics:
        """A frozen snapshot of the counters."""
        link = self._link
        return MQTTSourceStatistics(
            self._n_received,
            self._n_rejected,
            self._n_acked,
            self._n_stale,
            self._n_stale_acks,
            self._reconnects + (0 if link is None else link.disconnects),
        )

    # ------------------------------------------------------------ BlockingSource

    def open(self) -> None:
        """Connect with the persistent session and subscribe.

        Raises:
            ConnectionError: no connection within the connection's ``connect_timeout``.
        """
        link = self.Connection.client(
            f"{type(self).__name__} {self.Id!r}", self.ClientId, persistent=True, manual_ack=True
        )
        link.on_connected.append(self._subscribe)
        link.client.on_message = self._on_message
        self._link = link
        self._last_arrival = time.monotonic()
        link.start()

    def _subscribe(self, client: Client, flags: ConnectFlags) -> None:
        """On paho's thread, after each connection (the session may already hold them)."""
        client.subscribe([(topic, 1) for topic in self.Topics])

    def _on_message(self, client: Client, userdata: Any, message: MQTTMessage) -> None:
        link = self._link
        if link is None:
            return
        with self._arrived:
            self._messages.append((link.generation, message))
            self._arrived.notify()

    def read(self, max_items: int) -> list[Received | Rejected] | None:
        """Up to ``max_items`` messages, waiting briefly for the first (rule 2 drops those of a
        lost connection); None once ``end_after_idle`` passed without one."""
        link = self._link
        assert link is not None
        messages = self._messages
        with self._arrived:
            if not messages:
                self._arrived.wait(_READ_WAIT)
        items: list[Received | Rejected] = []
        generation = link.generation
        while messages and len(items) < max_items:
            at, message = messages.popleft()
            if at != generation or not link.connected:
                self._n_stale += 1
                continue
            items.append(self._item(at, message))
        now = time.monotonic()
        if items or not link.connected:  # an outage is not the end of the input
            self._last_arrival = now
            self._n_received += len(items)
        elif self._end_after_idle and now - self._last_arrival >= self._end_after_idle:
            return None
        return items

    def _item(self, generation: int, message: MQTTMessage) -> Received | Rejected:
        position = (generation, message.mid)
        context: Context = {
            "mqtt": {"topic": message.topic, "retain": message.retain, "dup": message.dup}
        }
        try:
            event = self.decode(bytes(message.payload))
        except ValueError as exc:  # UnicodeDecodeError and orjson.JSONDecodeError among them
            self._n_rejected += 1
            reason = f"{self._decode} payload does not decode: {exc}"
            return Rejected(message.payload, reason, position, context)
        return Received(event, position, context)

    def decode(self, payload: bytes) -> Any:
        """The event for a payload (``decode``); override it for another format.

        Raises:
            ValueError: the payload does not decode (the message is rejected, rule 4).
        """
        return decode_payload(payload, self._decode, self._encoding)

    def acknowledge(self, positions: Sequence[Any]) -> None:
        """Send the PUBACKs of the positions of the current connection, in order (rule 2)."""
        link = self._link
        if link is None:
            return
        for generation, mid in positions:
            if generation != link.generation or not link.connected:
                self._n_stale_acks += 1
                continue
            if link.client.ack(mid, 1) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._n_stale_acks += 1  # the connection dropped meanwhile: redelivered
                continue
            self._n_acked += 1

    def close(self) -> None:
        """Make sure the broker has the acknowledgements (rule 5), then disconnect; the session
        keeps what was not acknowledged (rule 1)."""
        link, self._link = self._link, None
        if link is None:
            return
        self._reconnects += link.disconnects
        if link.connected:
            barrier = link.client.publish(f"pumpcore/barrier/{self.ClientId}", b"", qos=1)
            # A connection that drops meanwhile: what it did not acknowledge comes again (rule 2).
            with contextlib.suppress(RuntimeError, ValueError):
                barrier.wait_for_publish(self.Connection.connect_timeout)
        link.close()
        self._messages.clear()
