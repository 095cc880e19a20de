"""AMQPSource: consumes a queue, acknowledging each delivery only once the sinks flushed it.

Rules (at-least-once, ``pumpcore/_io_source.py``):
1. Deliveries are consumed with manual acknowledgement and at most ``prefetch_count``
   unacknowledged at a time (the broker's flow control: a slow pipeline slows the queue, memory
   stays bounded). ``prefetch_count`` should exceed the run's ``commit_every`` (1000), or the
   consumer waits for an idle commit before more arrive.
2. A position is ``(generation, delivery_tag)``. ``acknowledge`` gets positions in read order,
   every earlier one already acknowledged, so it acknowledges the last tag with
   ``multiple=True``: one frame per commit.
3. A delivery of a connection that was lost (``_connection.py`` rule 2) is never acknowledged
   on the new one: the broker requeued it when the old channel died and delivers it again (a
   duplicate, never a loss). Deliveries read but not yet taken are dropped then, for the same
   reason. An acknowledgement that cannot be sent because the connection is down is skipped for
   the same reason and counted (``stale_acks``).
4. On close the connection is closed after the last acknowledgement was sent; the broker puts
   every delivery still unacknowledged back in the queue, in its place. So does a crash.
5. A body that does not decode (``decode = text | json``) is returned as a ``Rejected``: counted
   as ``event.rejected``, dead-lettered (``AMQPDeadLetterSink`` sends it to a queue of yours),
   and acknowledged with its batch; the consumer goes on.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from pumpcore import BlockingSource, ConfigError, ConfigRule, Context, Received
from pumpcore.config import at_least, in_range, one_of
from pumpcore.lowlevel import PAYLOAD_DECODINGS, Rejected, decode_payload

from ._connection import AMQPConnection, AMQPLinkDown, Link

if TYPE_CHECKING:
    from pika.adapters.blocking_connection import BlockingChannel
    from pika.spec import Basic, BasicProperties

    from pumpcore import Pipeline

# How long an empty ``read`` waits for a delivery before it returns ``[]``.
_READ_WAIT = 0.1


@attrs.frozen
class AMQPSourceStatistics:
    """What an ``AMQPSource`` did so far.

    Attributes:
        received: deliveries handed to the pipeline (bad ones included).
        rejected: deliveries whose body did not decode.
        acknowledged: deliveries acknowledged.
        stale: deliveries dropped before the pipeline took them because their connection was
            lost (the broker redelivers them).
        stale_acks: acknowledgements not sent because their connection was lost (redelivered).
        reconnects: connections lost and reopened.
    """

    received: int
    rejected: int
    acknowledged: int
    stale: int
    stale_acks: int
    reconnects: int


class AMQPSource(BlockingSource):
    """Consumes an AMQP queue (RabbitMQ) with manual acknowledgements (BSPump's
    ``AMQPSource``); see the module's rules.

    Each event is the message body (``decode``); its context holds ``amqp``: a dict with
    ``exchange``, ``routing_key``, ``redelivered``, ``headers``, ``content_type`` and
    ``message_id`` of the delivery.

    Args:
        connection: the broker (an ``AMQPConnection``); the default one is localhost's guest.

    Config:
        queue: the queue to consume. Required; it must exist (declare it with your broker's
            tools or in your application).
        prefetch_count: the most unacknowledged deliveries at a time (rule 1).
        decode: ``bytes`` (the body as it came), ``text`` (``encoding``) or ``json``.
        encoding: the text encoding for ``decode = text``.
        end_after_idle: seconds connected without a delivery after which the input ends (a batch job
            that drains a queue); 0: never, a service.

    Example:
        >>> AMQPSource(config={"queue": "orders", "decode": "json"}).Queue
        'orders'
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "queue": "",
        "prefetch_count": 2048,
        "decode": "bytes",
        "encoding": "utf-8",
        "end_after_idle": 0.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "prefetch_count": in_range(1, 65535),
        "decode": one_of(*PAYLOAD_DECODINGS),
        "end_after_idle": at_least(0) & in_range(0, 86400),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        connection: AMQPConnection | None = None,
    ) -> None:
        #: The broker this source consumes from.
        self.Connection = connection if connection is not None else AMQPConnection()
        super().__init__(pipeline, id, config)
        self._link: Link | None = None
        self._reconnects = 0  # of links closed
        # Deliveries as the link's thread received them: (generation, method, properties, body).
        self._deliveries: deque[tuple[int, Basic.Deliver, BasicProperties, bytes]] = deque()
        self._arrived = threading.Condition()
        self._last_arrival = 0.0
        self._n_received = self._n_rejected = self._n_acked = 0
        self._n_stale = self._n_stale_acks = 0

    def apply_config(self) -> None:
        super().apply_config()
        config = self.Config
        #: The queue consumed.
        self.Queue = str(config["queue"])
        self._prefetch = int(config["prefetch_count"])
        self._decode = str(config["decode"])
        self._encoding = str(config["encoding"])
        self._end_after_idle = float(config["end_after_idle"])
        if self.Pipeline is not None and not self.Queue:
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: config key 'queue' is empty; "
                "give the queue to consume"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.Id!r}, queue={self.Queue!r}, {self.Connection!r})"

    def statistics(self) -> AMQPSourceStatistics:
        """A frozen snapshot of the counters."""
        link = self._link
        return AMQPSourceStatistics(
            self._n_received,
            self._n_rejected,
            self._n_acked,
            self._n_stale,
            self._n_stale_acks,
            self._reconnects + (0 if link is None else link.disconnects),
        )

    # ------------------------------------------------------------ BlockingSource

    def open(self) -> None:
        """Connect and start consuming.

        Raises:
            ConnectionError: no connection within the connection's ``connect_timeout``.
            pika.exceptions.ChannelClosedByBroker: the queue does not exist (404), or access
                to it was refused.
        """
        self._link = self.Connection.link(f"{type(self).__name__} {self.Id!r}", self._setup)
        self._last_arrival = time.monotonic()
        self._link.start()

    def _setup(self, channel: BlockingChannel) -> None:
        """On the link's thread, on each connection: flow control, then consume."""
        link = self._link
        assert link is not None
        generation = link.generation
        deliveries, arrived = self._deliveries, self._arrived

        def on_message(
            _channel: BlockingChannel, method: Basic.Deliver, props: BasicProperties, body: bytes
        ) -> None:
            with arrived:
                deliveries.append((generation, method, props, body))
                arrived.notify()

        channel.basic_qos(prefetch_count=self._prefetch)
        channel.basic_consume(self.Queue, on_message, auto_ack=False)

    def read(self, max_items: int) -> list[Received | Rejected] | None:
        """Up to ``max_items`` deliveries, waiting briefly for the first (rule 3 drops those of
        a lost connection); None once ``end_after_idle`` passed without one."""
        link = self._link
        assert link is not None
        deliveries = self._deliveries
        with self._arrived:
            if not deliveries:
                self._arrived.wait(_READ_WAIT)
        items: list[Received | Rejected] = []
        generation = link.generation
        while deliveries and len(items) < max_items:
            item = deliveries.popleft()
            if item[0] != generation or not link.connected:
                self._n_stale += 1
                continue
            items.append(self._item(*item))
        now = time.monotonic()
        if items or not link.connected:  # an outage is not the end of the input
            self._last_arrival = now
            self._n_received += len(items)
        elif self._end_after_idle and now - self._last_arrival >= self._end_after_idle:
            return None
        return items

    def _item(
        self, generation: int, method: Basic.Deliver, props: BasicProperties, body: bytes
    ) -> Received | Rejected:
        position = (generation, method.delivery_tag)
        context: Context = {
            "amqp": {
                "exchange": method.exchange,
                "routing_key": method.routing_key,
                "redelivered": method.redelivered,
                "headers": dict(props.headers or {}),
                "content_type": props.content_type,
                "message_id": props.message_id,
            }
        }
        try:
            event = self.decode(body)
        except ValueError as exc:  # UnicodeDecodeError and orjson.JSONDecodeError among them
            self._n_rejected += 1
            return Rejected(body, f"{self._decode} body does not decode: {exc}", position, context)
        return Received(event, position, context)

    def decode(self, body: bytes) -> Any:
        """The event for a message body (``decode``); override it for another format.

        Raises:
            ValueError: the body does not decode (the delivery is rejected, rule 5).
        """
        return decode_payload(body, self._decode, self._encoding)

    def acknowledge(self, positions: Sequence[Any]) -> None:
        """Acknowledge every delivery up to the last position (rule 2) if its connection is the
        current one (rule 3)."""
        link = self._link
        if link is None or not positions:
            return
        generation, tag = positions[-1]
        current = [p for p in positions if p[0] == generation]

        def ack(channel: BlockingChannel) -> None:
            if link.generation != generation:
                raise AMQPLinkDown("the connection the deliveries came on was lost")
            channel.basic_ack(tag, multiple=True)

        try:
            link.call(ack, timeout=link.connection.connect_timeout)
        except AMQPLinkDown:
            self._n_stale_acks += len(positions)
            return
        self._n_acked += len(current)
        self._n_stale_acks += len(positions) - len(current)

    def close(self) -> None:
        """Close the connection (rule 4)."""
        link, self._link = self._link, None
        if link is not None:
            self._reconnects += link.disconnects
        if link is not None:
            link.close()
        self._deliveries.clear()
