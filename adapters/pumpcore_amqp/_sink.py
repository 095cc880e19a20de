"""AMQPSink: publishes events with publisher confirms; ``flush`` returns only once the broker
confirmed every one. AMQPDeadLetterSink: the same for failed events and rejected input.

Rules:
1. ``process`` only encodes and buffers (it runs on the pipelines' thread); ``flush`` sends
   the buffer in order on the publisher's thread (``_publisher.py``), each message persistent
   and ``mandatory``, on a channel in confirm mode, and returns once the broker confirmed every
   one (the confirms of a batch come together: one disk sync covers many messages).
2. A message the broker nacked, or whose connection was lost before its confirm came, is
   published again (the connection is reopened first) until ``publish_timeout`` has passed
   since the flush began; then ``flush`` raises ``AMQPPublishError``. A retried message may
   arrive twice (its first confirm was lost): at-least-once.
3. A message the broker returned as unroutable (no queue bound for its routing key) makes
   ``flush`` raise ``AMQPPublishError`` at once: retrying does not bind a queue.
4. When ``flush`` raises, the messages not confirmed are given up (counted as ``failed``): the
   run acknowledges nothing from there on, so a restart reads and publishes them again.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from pumpcore import BlockingSink, ConfigError, ConfigRule, Context, Failure
from pumpcore.config import in_range
from pumpcore.lowlevel import encode_typed_payload

from ._connection import AMQPConnection, AMQPLinkDown
from ._publisher import Message, Publisher

if TYPE_CHECKING:
    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.amqp")


class AMQPPublishError(Exception):
    """Messages the broker did not confirm (module rules 2-3); names the sink and the cause."""


@attrs.frozen
class AMQPSinkStatistics:
    """What an ``AMQPSink`` did so far.

    Attributes:
        published: messages the broker confirmed.
        retried: publishes retried (a nack, or a connection lost before the confirm).
        failed: messages given up when ``flush`` raised.
        reconnects: connections lost and reopened.
    """

    published: int
    retried: int
    failed: int
    reconnects: int


class AMQPSink(BlockingSink):
    """Publishes each event to an exchange (BSPump's ``AMQPSink``), confirmed by the broker
    before ``flush`` returns; see the module's rules.

    ``bytes`` go as they are, ``str`` encoded as UTF-8 (``text/plain``), anything else as JSON
    (orjson, ``application/json``). The routing key is the context's ``routing_key`` when it
    has one, the config's otherwise (as in BSPump).

    Args:
        connection: the broker (an ``AMQPConnection``); the default one is localhost's guest.

    Config:
        exchange: the exchange to publish to; ``""`` is the default exchange, where the routing
            key is the queue's name.
        routing_key: the routing key when the context gives none.
        content_type: overrides the content type set from the event's kind, when not empty.
        persistent: publish with ``delivery_mode`` 2 (the broker writes the message to disk
            before confirming it, for durable queues).
        publish_timeout: seconds a flush keeps retrying unconfirmed messages (rule 2).

    Example:
        >>> AMQPSink(config={"routing_key": "orders"}).RoutingKey
        'orders'
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "exchange": "",
        "routing_key": "",
        "content_type": "",
        "persistent": True,
        "publish_timeout": 60.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "publish_timeout": in_range(0, 86400),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        connection: AMQPConnection | None = None,
    ) -> None:
        #: The broker this sink publishes to.
        self.Connection = connection if connection is not None else AMQPConnection()
        super().__init__(pipeline, id, config)
        self._buffer: deque[Message] = deque()
        self._publisher: Publisher | None = None
        self._reconnects = 0  # of publishers closed
        self._n_published = self._n_retried = self._n_failed = 0

    def apply_config(self) -> None:
        super().apply_config()
        config = self.Config
        #: The exchange published to.
        self.Exchange = str(config["exchange"])
        #: The routing key when the context gives none.
        self.RoutingKey = str(config["routing_key"])
        self._content_type = str(config["content_type"]) or None
        self._delivery_mode = 2 if bool(config["persistent"]) else 1
        self._publish_timeout = float(config["publish_timeout"])
        if self.Pipeline is not None and not self.Exchange and not self.RoutingKey:
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: config keys 'exchange' and 'routing_key' "
                "are both empty; give the exchange, or the queue's name as the routing key"
            )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.Id!r}, exchange={self.Exchange!r}, "
            f"routing_key={self.RoutingKey!r}, {self.Connection!r})"
        )

    def statistics(self) -> AMQPSinkStatistics:
        """A frozen snapshot of the counters."""
        publisher = self._publisher
        return AMQPSinkStatistics(
            self._n_published,
            self._n_retried,
            self._n_failed,
            self._reconnects + (0 if publisher is None else publisher.disconnects),
        )

    def encode(self, event: Any) -> tuple[bytes, str | None]:
        """The message body for ``event`` and its content type; override it for another format.

        Raises:
            TypeError: the event cannot be written as JSON.
        """
        return encode_typed_payload(event)

    def process(self, context: Context, event: Any) -> None:
        """Encode the event and buffer it for the next flush.

        Raises:
            TypeError: the event cannot be encoded (the pipeline's error policy decides).
        """
        body, content_type = self.encode(event)
        routing_key = context.get("routing_key")
        self._buffer.append(
            (
                self.RoutingKey if routing_key is None else str(routing_key),
                body,
                self._content_type or content_type,
                None,
            )
        )

    # ------------------------------------------------------------ BlockingSink

    def open(self) -> None:
        """Connect; the channel is put in confirm mode.

        Raises:
            ConnectionError: no connection within the connection's ``connect_timeout``.
        """
        self._publisher = Publisher(self.Connection, f"{type(self).__name__} {self.Id!r}")
        self._publisher.start()

    def flush(self) -> None:
        """Publish everything buffered, in order, each confirmed (rules 1-4).

        Raises:
            AMQPPublishError: a message was returned as unroutable, or stayed unconfirmed for
                ``publish_timeout`` seconds.
        """
        publisher = self._publisher
        assert publisher is not None, "flush before open"
        pending, self._buffer = list(self._buffer), deque()
        deadline = time.monotonic() + self._publish_timeout
        while pending:
            left = deadline - time.monotonic()
            try:
                outcome = publisher.publish(
                    self.Exchange, pending, self._delivery_mode, max(0.001, left)
                )
            except AMQPLinkDown as exc:
                if left <= 0 or not publisher.wait_connected(left):
                    self._give_up(len(pending), f"not connected: {exc!r}", exc)
                continue
            self._n_published += sum(outcome.confirmed)
            if outcome.returned:
                self._give_up(
                    len(outcome.returned) + len(outcome.failed),
                    f"the broker returned messages as unroutable (exchange {self.Exchange!r}, "
                    f"routing key {outcome.returned[0]!r}): no queue is bound for it",
                    None,
                )
            if not outcome.failed:
                return
            # Nacked, or lost with the connection before the confirm (rule 2), in order.
            pending = [pending[i] for i in sorted(outcome.failed)]
            self._n_retried += len(pending)
            if time.monotonic() >= deadline:
                self._give_up(len(pending), f"unconfirmed: {outcome.cause!r}", outcome.cause)
            log.info(
                "%s %r: publishing %d again after %r",
                type(self).__name__, self.Id, len(pending), outcome.cause,
            )  # fmt: skip
            publisher.wait_connected(max(0.0, deadline - time.monotonic()))

    def _give_up(self, count: int, why: str, cause: BaseException | None) -> None:
        self._n_failed += count
        raise AMQPPublishError(
            f"{type(self).__name__} {self.Id!r}: {count} messages not confirmed by "
            f"{self.Connection.redacted_url} (publish_timeout={self._publish_timeout} s): {why}"
        ) from cause

    def close(self) -> None:
        """Disconnect. Messages still buffered (the last flush failed) are not sent; their
        positions were never acknowledged."""
        publisher, self._publisher = self._publisher, None
        self._buffer.clear()
        if publisher is not None:
            self._reconnects += publisher.disconnects
            publisher.close()


class AMQPDeadLetterSink(AMQPSink):
    """A dead-letter sink (``Pipeline.set_dead_letter``) that publishes each failed event or
    rejected input to a queue of yours, with the failure in its headers; its positions are
    acknowledged only once the broker confirmed it (rules 1-4).

    The body is the raw input for a rejected one (the bytes as they came), the event encoded as
    ``AMQPSink`` does otherwise (its ``repr`` as text when it does not encode). Headers:
    ``x-pumpcore-pipeline``, ``x-pumpcore-component``, ``x-pumpcore-error`` (the exception's
    type and message, at most 1000 characters).

    Example:
        >>> AMQPDeadLetterSink(config={"routing_key": "orders.dead"}).RoutingKey
        'orders.dead'
    """

    def process(self, context: Context, event: Any) -> None:
        """Buffer the failure ``event`` (a ``Failure``) for the next flush."""
        if not isinstance(event, Failure):
            raise TypeError(f"{type(self).__name__} takes Failure objects, got {type(event)}")
        try:
            body, content_type = self.encode(event.event)
        except TypeError:
            body, content_type = repr(event.event).encode(), "text/plain; charset=utf-8"
        error = f"{type(event.exception).__name__}: {event.exception}"[:1000]
        headers = {
            "x-pumpcore-pipeline": event.pipeline_id,
            "x-pumpcore-component": event.component_id,
            "x-pumpcore-error": error,
        }
        self._buffer.append((self.RoutingKey, body, self._content_type or content_type, headers))
