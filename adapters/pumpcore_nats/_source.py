"""NATSSource: a durable JetStream pull consumer, acknowledging each message only once the sinks
flushed it.

Rules (at-least-once, ``pumpcore/_io_source.py``):
1. The consumer is durable (``durable``) with explicit acknowledgement: the server keeps its
   position across restarts and redelivers every message not acknowledged within ``ack_wait``
   seconds. It is created on first use with this source's settings (an existing consumer keeps
   its own).
2. ``read`` fetches up to ``read_size`` messages (at most ``max_ack_pending`` unacknowledged at
   a time: the server's flow control). A position is the message's reply subject, which names
   the delivery; ``acknowledge`` sends ``+ACK`` to each, then flushes the connection.
3. On close the messages read but not acknowledged are sent ``-NAK`` (once the last fetch's
   request expired on the server, or it would take them), so the next consumer gets them at
   once, in order, instead of after ``ack_wait``. After a crash they come back after
   ``ack_wait``.
4. A message that does not decode (``decode = text | json``) is returned as a ``Rejected``:
   counted, dead-lettered, acknowledged with its batch; the consumer goes on.
5. While the connection is down a fetch returns nothing (nats-py reconnects, ``_connection.py``
   rule 2); acknowledgements published meanwhile are buffered and sent on reconnection, and one
   that is lost only makes the server redeliver (a duplicate, never a loss).

``ack_wait`` must exceed the longest a message may wait between its read and its commit, or the
server redelivers it while it is still in the pipeline (a duplicate).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig

from pumpcore import BlockingSource, ConfigError, ConfigRule, Context, Received
from pumpcore.config import at_least, in_range, one_of
from pumpcore.lowlevel import PAYLOAD_DECODINGS, Rejected, decode_payload

from ._connection import Client, NATSConnection

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext

    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.nats")

# How long an empty fetch waits for a message before ``read`` returns ``[]``.
_FETCH_WAIT = 0.1


@attrs.frozen
class NATSSourceStatistics:
    """What a ``NATSSource`` did so far.

    Attributes:
        received: messages handed to the pipeline (bad ones included).
        rejected: messages that did not decode.
        acknowledged: messages acknowledged.
        nacked: messages given back at close (rule 3).
        fetch_failures: fetches that failed for another reason than no message (a disconnect).
        disconnects: times the connection was lost.
    """

    received: int
    rejected: int
    acknowledged: int
    nacked: int
    fetch_failures: int
    disconnects: int


class NATSSource(BlockingSource):
    """Consumes a JetStream stream through a durable pull consumer; see the module's rules.

    Each event is the message's data (``decode``); its context holds ``nats``: a dict with
    ``subject``, ``stream_sequence``, ``num_delivered`` and ``headers``.

    Args:
        connection: the servers (a ``NATSConnection``); the default is localhost's.

    Config:
        stream: the stream. Required.
        subject: the consumer's filter subject (``""``: every subject of the stream).
        durable: the durable consumer's name. Required: it is what a restart resumes from.
        ack_wait: seconds before the server redelivers an unacknowledged message.
        max_ack_pending: the most unacknowledged messages at a time; keep it above the run's
            ``commit_every`` (1000), or reads wait for an idle commit.
        decode: ``bytes``, ``text`` (``encoding``) or ``json``.
        encoding: the text encoding for ``decode = text``.
        end_after_idle: seconds connected without a message after which the input ends (a batch job
            that drains a stream); 0: never, a service.

    Example:
        >>> NATSSource(config={"stream": "ORDERS", "durable": "pump"}).Durable
        'pump'
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "stream": "",
        "subject": "",
        "durable": "",
        "ack_wait": 30.0,
        "max_ack_pending": 4096,
        "decode": "bytes",
        "encoding": "utf-8",
        "end_after_idle": 0.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "ack_wait": in_range(0.1, 86400),
        "max_ack_pending": in_range(1, 2**20),
        "decode": one_of(*PAYLOAD_DECODINGS),
        "end_after_idle": at_least(0) & in_range(0, 86400),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        connection: NATSConnection | None = None,
    ) -> None:
        #: The servers this source consumes from.
        self.Connection = connection if connection is not None else NATSConnection()
        super().__init__(pipeline, id, config)
        self._client: Client | None = None
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._unacked: dict[str, None] = {}  # reply subjects read, in read order
        self._last_arrival = 0.0
        self._fetched_at = 0.0  # when the last fetch returned
        self._n_received = self._n_rejected = self._n_acked = self._n_nacked = 0
        self._n_fetch_failures = self._disconnects = 0

    def apply_config(self) -> None:
        super().apply_config()
        config = self.Config
        #: The stream consumed.
        self.Stream = str(config["stream"])
        #: The filter subject ("" for all).
        self.Subject = str(config["subject"])
        #: The durable consumer's name.
        self.Durable = str(config["durable"])
        self._ack_wait = float(config["ack_wait"])
        self._max_ack_pending = int(config["max_ack_pending"])
        self._decode = str(config["decode"])
        self._encoding = str(config["encoding"])
        self._end_after_idle = float(config["end_after_idle"])
        if self.Pipeline is not None and not (self.Stream and self.Durable):
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: config keys 'stream' and 'durable' must "
                f"both be given, got stream={self.Stream!r}, durable={self.Durable!r}"
            )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.Id!r}, stream={self.Stream!r}, "
            f"durable={self.Durable!r}, {self.Connection!r})"
        )

    def statistics(self) -> NATSSourceStatistics:
        """A frozen snapshot of the counters."""
        client = self._client
        return NATSSourceStatistics(
            self._n_received,
            self._n_rejected,
            self._n_acked,
            self._n_nacked,
            self._n_fetch_failures,
            self._disconnects + (0 if client is None else client.disconnects),
        )

    # ------------------------------------------------------------ BlockingSource

    def open(self) -> None:
        """Connect and bind the durable consumer (creating it if needed).

        Raises:
            ConnectionError: no server answered within ``connect_timeout``.
            nats.js.errors.NotFoundError: the stream does not exist.
        """
        client = self.Connection.client(f"{type(self).__name__} {self.Id!r}")
        client.start()
        self._client = client
        config = ConsumerConfig(
            durable_name=self.Durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self._ack_wait,
            max_ack_pending=self._max_ack_pending,
            filter_subject=self.Subject or None,
        )

        async def subscribe() -> JetStreamContext.PullSubscription:
            assert client.nc is not None
            js = client.nc.jetstream()
            return await js.pull_subscribe(
                self.Subject or ">",
                durable=self.Durable,
                stream=self.Stream,
                config=config,
                pending_msgs_limit=2 * self.read_size,
            )

        try:
            self._subscription = client.call(subscribe, self.Connection.connect_timeout + 5)
        except BaseException:
            self.close()
            raise
        self._last_arrival = time.monotonic()

    def read(self, max_items: int) -> list[Received | Rejected] | None:
        """Up to ``max_items`` messages, waiting briefly for the first; None once
        ``end_after_idle`` passed without one."""
        client, subscription = self._client, self._subscription
        assert client is not None
        assert subscription is not None

        async def fetch() -> list[Msg]:
            try:
                return await subscription.fetch(max_items, timeout=_FETCH_WAIT)
            except nats.errors.TimeoutError:
                return []

        try:
            messages = client.call(fetch, self.Connection.connect_timeout + 5)
            self._fetched_at = time.monotonic()
        except (TimeoutError, nats.errors.Error, OSError) as exc:  # rule 5
            self._n_fetch_failures += 1
            messages = []
            if self._n_fetch_failures == 1 or self._n_fetch_failures % 100 == 0:
                log.warning(
                    "%s %r: fetch failed (%d so far): %r",
                    type(self).__name__, self.Id, self._n_fetch_failures, exc,
                )  # fmt: skip
        now = time.monotonic()
        if not (client.nc is not None and client.nc.is_connected):
            self._last_arrival = now  # an outage is not the end of the input
        if messages:
            self._last_arrival = now
            self._n_received += len(messages)
            return [self._item(m) for m in messages]
        if self._end_after_idle and now - self._last_arrival >= self._end_after_idle:
            return None
        return []

    def _item(self, message: Msg) -> Received | Rejected:
        position = message.reply
        self._unacked[position] = None
        metadata = message.metadata
        context: Context = {
            "nats": {
                "subject": message.subject,
                "stream_sequence": metadata.sequence.stream,
                "num_delivered": metadata.num_delivered,
                "headers": dict(message.headers or {}),
            }
        }
        try:
            event = self.decode(message.data)
        except ValueError as exc:  # UnicodeDecodeError and orjson.JSONDecodeError among them
            self._n_rejected += 1
            reason = f"{self._decode} message does not decode: {exc}"
            return Rejected(message.data, reason, position, context)
        return Received(event, position, context)

    def decode(self, data: bytes) -> Any:
        """The event for a message's data (``decode``); override it for another format.

        Raises:
            ValueError: the data does not decode (the message is rejected, rule 4).
        """
        return decode_payload(data, self._decode, self._encoding)

    def acknowledge(self, positions: Sequence[Any]) -> None:
        """``+ACK`` every position, then flush (rule 2)."""
        client = self._client
        if client is None or client.nc is None or not positions:
            return
        self._send(client, positions, b"+ACK")
        for position in positions:
            self._unacked.pop(position, None)
        self._n_acked += len(positions)

    def _send(self, client: Client, replies: Sequence[str], verdict: bytes) -> None:
        nc = client.nc
        assert nc is not None

        async def send() -> None:
            for reply in replies:
                await nc.publish(reply, verdict)
            if nc.is_connected:
                await nc.flush(timeout=max(1, round(self.Connection.connect_timeout)))

        try:
            client.call(send, self.Connection.connect_timeout + 5)
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            # Buffered until reconnection, or lost with the connection: then the server
            # redelivers after ack_wait (rule 5).
            log.info(
                "%s %r: %d %s not confirmed sent: %r",
                type(self).__name__,
                self.Id,
                len(replies),
                verdict.decode(),
                exc,
            )

    def close(self) -> None:
        """Give back what was read but not acknowledged (rule 3) and disconnect."""
        client, self._client = self._client, None
        self._subscription = None
        if client is None:
            return
        if self._unacked and client.nc is not None:
            # The server may still hold the last fetch's request for a moment after the client
            # gave up on it: a message given back before it expired would be delivered to it,
            # and then wait out ack_wait.
            time.sleep(max(0.0, self._fetched_at + 2 * _FETCH_WAIT - time.monotonic()))
            replies = list(self._unacked)
            self._send(client, replies, b"-NAK")
            self._n_nacked += len(replies)
            self._unacked.clear()
        self._disconnects += client.disconnects
        client.close()
