"""KafkaSink: produces each event to a topic; ``flush`` returns only once the brokers confirmed
every message produced before it, and raises when any was not delivered.

Rules:
1. ``process`` (the executor's loop thread) encodes the event and hands it to librdkafka's
   queue without blocking; the client sends in the background while the pipeline goes on.
2. Backpressure: librdkafka's queue is bounded (``queue.buffering.max.messages`` and
   ``queue.buffering.max.kbytes``, set through ``producer``). When it is full, ``process`` keeps
   the event in order in the sink's own list instead of blocking the loop; that list is bounded
   by the executor's commit cadence (a flush comes at least every ``commit_every`` events), and
   ``flush`` (a worker thread) drains it, serving delivery reports and waiting whenever the
   queue is full (``BufferError``).
3. ``flush`` waits for every delivery report (``producer.flush``). A message librdkafka could not
   deliver after its own retries (``retries``, ``delivery.timeout.ms``), or reports still
   missing after ``flush_timeout`` seconds, make ``flush`` raise ``KafkaDeliveryError``: never
   only a log line. The sources that fed the sink are then poisoned (nothing more is
   acknowledged in this run), so a restart produces those events again.
4. Idempotent production is on by default (``enable.idempotence``): librdkafka's retries
   neither reorder nor duplicate a partition's messages.
5. An event that cannot be encoded, or that the client refuses at once (too large), raises from
   ``process``: the pipeline's error policy handles it.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from confluent_kafka import KafkaError, Message, Producer

from pumpcore import BlockingSink, ConfigError, ConfigRule, Context, Failure
from pumpcore.config import config_owner, positive
from pumpcore.lowlevel import encode_payload

from ._connection import (
    KafkaConnection,
    parse_properties,
    parse_str_mapping,
    resolve_connection,
)
from ._errors import KafkaDeliveryError

if TYPE_CHECKING:
    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.kafka")

_Pending = tuple[str, bytes | None, Any, Any]  # topic, value, key, headers


class KafkaSinkStatistics(NamedTuple):
    """What a ``KafkaSink`` did so far.

    Attributes:
        produced: messages handed to the client (or held back until its queue has room).
        failed: messages the client reported as not delivered (rule 3).
        queue_full: times the client's queue was full (rule 2).
    """

    produced: int
    failed: int
    queue_full: int


class KafkaSink(BlockingSink):
    """Writes events to Kafka (BSPump's ``KafkaSink``); see the module for the guarantees.

    ``bytes`` go as they are, ``str`` as UTF-8, anything else as JSON (orjson). The message key
    and headers come from the event's context (``key_from``, ``headers_from``: by default what a
    ``KafkaSource`` put there, so a key keeps its partitioning through the pump), else from
    ``key`` and ``headers``; the topic is ``topic``, or the context's ``topic_from`` key when
    set and present (BSPump's ``kafka_topic``: off by default, because a ``KafkaSource`` sets
    ``kafka_topic`` to the topic read, and writing back into it would loop).

    Args:
        connection: a ``KafkaConnection``, or the id of one registered on the pump.

    Config:
        topic: the topic to write to (required unless every event's context names one).
        topic_from: a context key naming the event's topic (empty: always ``topic``).
        key_from: the context key holding the message key (bytes or str; empty: no key).
        headers_from: the context key holding headers (a list of pairs or a dict; empty: none).
        key: the key of messages whose context has none (empty: no key).
        headers: headers of messages whose context has none: a dict, or a JSON object.
        flush_timeout: seconds a flush waits for delivery reports before it raises.
        producer: extra librdkafka producer properties: a dict, or a JSON object in a config
            file (``linger.ms``, ``compression.type``, ``acks``,
            ``queue.buffering.max.messages``…).
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "topic": "",
        "topic_from": "",
        "key_from": "kafka_key",
        "headers_from": "kafka_headers",
        "key": "",
        "headers": None,
        "flush_timeout": 60.0,
        "producer": None,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {"flush_timeout": positive()}

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        connection: KafkaConnection | str = "KafkaConnection",
    ) -> None:
        self._connection_arg = connection
        self._producer: Producer | None = None
        self._pending: deque[_Pending] = deque()
        self._failures: list[str] = []
        self._lock = threading.Lock()  # delivery reports come on the flushing thread
        self._produced = self._failed = self._full = 0
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        super().apply_config()
        config = self.Config
        owner = config_owner(self)
        #: The default topic.
        self.Topic = str(config["topic"])
        self._topic_from = str(config["topic_from"])
        self._key_from = str(config["key_from"])
        self._headers_from = str(config["headers_from"])
        self._key = str(config["key"]).encode() or None
        self._headers = parse_str_mapping(owner, "headers", config["headers"]) or None
        self._flush_timeout = float(config["flush_timeout"])
        self._extra = parse_properties(owner, "producer", config["producer"])
        if self.Pipeline is not None and not self.Topic and not self._topic_from:
            raise ConfigError(
                f"{owner}: config key 'topic' is empty and 'topic_from' is not set; "
                "give the topic to write to"
            )

    def statistics(self) -> KafkaSinkStatistics:
        """What the sink did so far."""
        return KafkaSinkStatistics(self._produced, self._failed, self._full)

    def open(self) -> None:
        """Create the producer."""
        connection = resolve_connection(self, self._connection_arg)
        self._producer = Producer(
            {
                **connection.client_config(),
                "enable.idempotence": True,
                **self._extra,
                "delivery.report.only.error": True,  # reports cost only when they matter
                "on_delivery": self._delivered,
            },
            logger=log,
        )

    def encode(self, event: Any) -> bytes:
        """The message value for ``event``; override it for another wire format.

        Raises:
            TypeError: the event cannot be written as JSON.
        """
        return encode_payload(event)

    def process(self, context: Context, event: Any) -> None:
        """Hand the message to the client, or keep it in order while its queue is full."""
        value = self.encode(event)
        topic = self.Topic
        if self._topic_from:
            topic = context.get(self._topic_from) or topic
            if not topic:
                raise ValueError(
                    f"{config_owner(self)}: the context has no {self._topic_from!r} and no "
                    "default 'topic' is set"
                )
        key = context.get(self._key_from) if self._key_from else None
        if key is None:
            key = self._key
        headers = context.get(self._headers_from) if self._headers_from else None
        if headers is None:
            headers = self._headers
        self._produce(topic, value, key, headers)

    def _produce(self, topic: str, value: bytes | None, key: Any, headers: Any) -> None:
        if self._pending:
            self._pending.append((topic, value, key, headers))
        else:
            producer = self._producer
            assert producer is not None, "process before open"
            try:
                producer.produce(topic, value, key, headers=headers)
            except BufferError:
                self._full += 1
                self._pending.append((topic, value, key, headers))
        self._produced += 1

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            with self._lock:
                self._failed += 1
                self._failures.append(f"{message.topic()}: {error.str()}")

    def flush(self) -> None:
        """Produce what waited for room, then wait for every delivery report (rules 2, 3).

        Raises:
            KafkaDeliveryError: a message was not delivered, or reports are missing after
                ``flush_timeout`` seconds.
        """
        producer = self._producer
        assert producer is not None, "flush before open"
        pending = self._pending
        while pending:
            topic, value, key, headers = pending[0]
            try:
                producer.produce(topic, value, key, headers=headers)
            except BufferError:
                self._full += 1
                producer.poll(0.05)  # the queue is full: let the client send, then retry
                continue
            pending.popleft()
        left = producer.flush(self._flush_timeout)
        with self._lock:
            failures, self._failures = self._failures, []
        if failures:
            raise KafkaDeliveryError(
                f"{config_owner(self)}: {len(failures)} message(s) not delivered; "
                f"first: {failures[0]}"
            )
        if left:
            raise KafkaDeliveryError(
                f"{config_owner(self)}: {left} message(s) without a delivery report after "
                f"flush_timeout = {self._flush_timeout} s"
            )

    def close(self) -> None:
        """Drop what a failed flush left (it was never acknowledged) and the producer."""
        producer, self._producer = self._producer, None
        self._pending.clear()
        if producer is not None:
            producer.purge()
            producer.flush(0)


class KafkaDeadLetterSink(KafkaSink):
    """A dead-letter sink (``Pipeline.set_dead_letter``) that writes each failed event or
    rejected input to a Kafka topic, with the failure in its headers; a flush raises unless the
    broker confirmed every one (rule 3), so their positions are acknowledged only once written.

    The value is the raw input of a rejected message (its bytes as they came; none for a
    tombstone), else the failed event encoded as ``KafkaSink`` does (its ``repr`` as text when
    it does not encode). The key and headers are the message's own (``key_from``,
    ``headers_from``: what a ``KafkaSource`` read), followed by ``x-pumpcore-pipeline``,
    ``x-pumpcore-component`` (the source, for a rejected input), ``x-pumpcore-error`` (the
    exception's type and message, at most 1000 characters) and, when the context has them,
    ``x-pumpcore-kafka-topic``, ``-partition`` and ``-offset`` (where the message was read).
    The topic is always ``topic``.

    Example:
        >>> KafkaDeadLetterSink(config={"topic": "orders.dead"}).Topic
        'orders.dead'
    """

    def open(self) -> None:
        """Create the producer; the topic is required (a dead letter has no context topic).

        Raises:
            ConfigError: config key 'topic' is empty.
        """
        if not self.Topic:
            raise ConfigError(
                f"{config_owner(self)}: config key 'topic' is empty; give the dead-letter topic"
            )
        super().open()

    def process(self, context: Context, event: Any) -> None:
        """Hand the failure ``event`` (a ``Failure``) to the client."""
        if not isinstance(event, Failure):
            raise TypeError(f"{type(self).__name__} takes Failure objects, got {type(event)}")
        raw = event.event
        value: bytes | None
        if raw is None or isinstance(raw, bytes):
            value = raw
        else:
            try:
                value = self.encode(raw)
            except TypeError:
                value = repr(raw).encode()
        key = context.get(self._key_from) if self._key_from else None
        if key is None:
            key = self._key
        found = context.get(self._headers_from) if self._headers_from else None
        if found is None:
            found = self._headers
        headers: list[tuple[str, str | bytes | None]] = list(
            found.items() if isinstance(found, Mapping) else found or ()
        )
        headers += [
            ("x-pumpcore-pipeline", event.pipeline_id),
            ("x-pumpcore-component", event.component_id),
            ("x-pumpcore-error", f"{type(event.exception).__name__}: {event.exception}"[:1000]),
        ]
        for name in ("topic", "partition", "offset"):
            where = context.get(f"kafka_{name}")
            if where is not None:
                headers.append((f"x-pumpcore-kafka-{name}", str(where)))
        self._produce(self.Topic, value, key, headers)
