"""The publisher link: a pika ``SelectConnection`` on a thread of its own, its channel in
confirm mode, with many messages awaiting their confirms at once.

A blocking channel in confirm mode waits for each message's confirm before it sends the next:
for persistent messages on a durable queue that is one disk sync per message (about 250 a
second). Here a batch is sent whole and the broker's confirms (``Basic.Ack``, often
``multiple``) resolve it as they come. Rules:

1. Only the link's thread touches pika objects; ``publish`` hands it a batch with pika's
   ``add_callback_threadsafe`` and waits for the batch's outcome.
2. Delivery tags count from 1 on each channel; a confirm names a tag (or every tag up to it).
   A message is confirmed by ``Basic.Ack``, failed by ``Basic.Nack``; a ``Basic.Return``
   (unroutable) comes before its message's ack and marks the batch.
3. A lost connection or channel fails every message awaiting its confirm (the caller publishes
   them again); the link reconnects with the connection's backoff, a new channel, new tags.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pika
import pika.spec
from pika.adapters.select_connection import SelectConnection

from ._connection import AMQPConnection, AMQPLinkDown

if TYPE_CHECKING:
    from pika.channel import Channel

log = logging.getLogger("pumpcore.amqp")

# (routing key, body, content type, headers) of a message waiting for the next flush.
Message = tuple[str, bytes, "str | None", "dict[str, Any] | None"]


class Outcome:
    """A batch's messages as the broker answered them (rule 2)."""

    def __init__(self, count: int) -> None:
        self.confirmed = [False] * count
        self.failed: list[int] = []  # indices nacked or lost
        self.returned: list[str] = []  # routing keys the broker returned as unroutable
        self.cause: BaseException | None = None
        self._open = count
        self.done = threading.Event()

    def settle(self, index: int, ok: bool, cause: BaseException | None = None) -> None:
        if ok:
            self.confirmed[index] = True
        else:
            self.failed.append(index)
            self.cause = self.cause or cause
        self._open -= 1
        if self._open == 0:
            self.done.set()


class Publisher:
    """One ``SelectConnection`` and confirm-mode channel on a thread of its own (the rules)."""

    def __init__(self, connection: AMQPConnection, owner: str) -> None:
        self.connection = connection
        self.owner = owner
        #: Connections lost so far.
        self.disconnects = 0
        self.last_error: BaseException | None = None
        self._conn: SelectConnection | None = None
        self._channel: Channel | None = None
        self._next_tag = 1
        self._awaiting: dict[int, tuple[Outcome, int]] = {}  # tag -> (batch, index)
        self._closing = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"pumpcore-amqp {owner}", daemon=True
        )

    def start(self) -> None:
        """Start the thread and wait for the first connection.

        Raises:
            ConnectionError: no connection within ``connect_timeout`` (with the last error).
        """
        self._thread.start()
        if not self._connected.wait(self.connection.connect_timeout):
            self.close()
            raise ConnectionError(
                f"{self.owner}: cannot connect to {self.connection.redacted_url} within "
                f"{self.connection.connect_timeout} s: {self.last_error!r}"
            ) from self.last_error

    def wait_connected(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a connection; True when there is one."""
        return self._connected.wait(timeout)

    def publish(
        self, exchange: str, messages: Sequence[Message], delivery_mode: int, timeout: float
    ) -> Outcome:
        """Send ``messages`` and wait up to ``timeout`` seconds for their confirms; those not
        confirmed by then are failed with a ``TimeoutError``.

        Raises:
            AMQPLinkDown: not connected now.
        """
        conn = self._conn
        if conn is None or not self._connected.is_set():
            raise AMQPLinkDown(f"{self.owner}: not connected to {self.connection.redacted_url}")
        outcome = Outcome(len(messages))
        try:
            conn.ioloop.add_callback_threadsafe(
                lambda: self._send(outcome, exchange, messages, delivery_mode)
            )
        except Exception as exc:  # the loop was closed meanwhile
            raise AMQPLinkDown(f"{self.owner}: connection lost: {exc!r}") from exc
        if not outcome.done.wait(timeout):
            late = TimeoutError(f"no confirm within {timeout:.3g} s")
            try:
                conn.ioloop.add_callback_threadsafe(lambda: self._give_up(outcome, late))
            except Exception:  # the loop ended: its end failed what was awaiting
                log.debug("%s: giving up on a stopped loop", self.owner, exc_info=True)
            outcome.done.wait()
        return outcome

    def close(self) -> None:
        """Close the connection and end the thread."""
        self._closing.set()
        conn = self._conn
        if conn is not None:
            try:
                conn.ioloop.add_callback_threadsafe(lambda: self._stop(conn))
            except Exception:  # already stopped
                log.debug("%s: closing a stopped loop", self.owner, exc_info=True)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(self.connection.connect_timeout + 5)

    # ------------------------------------------------------------ the link's thread

    def _run(self) -> None:
        delay = self.connection.reconnect_delay
        while not self._closing.is_set():
            conn = SelectConnection(
                self.connection.parameters(),
                on_open_callback=self._on_open,
                on_open_error_callback=self._on_open_error,
                on_close_callback=self._on_closed,
            )
            self._conn = conn
            conn.ioloop.start()  # until _on_open_error or _on_closed stops it
            conn.ioloop.close()
            was_connected = self._connected.is_set()
            self._connected.clear()
            self._channel = None
            self._fail_awaiting(AMQPLinkDown(f"{self.owner}: connection lost"))
            if self._closing.is_set():
                break
            if was_connected:
                delay = self.connection.reconnect_delay
            self._closing.wait(delay)
            delay = min(delay * 2, self.connection.max_reconnect_delay)
        self._conn = None

    def _on_open(self, conn: Any) -> None:
        conn.channel(on_open_callback=self._on_channel)

    def _on_channel(self, channel: Channel) -> None:
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)

        def ready(_frame: Any) -> None:
            self._channel, self._next_tag = channel, 1
            if self.disconnects:
                log.info("%s: connected again", self.owner)
            self._connected.set()

        channel.confirm_delivery(self._on_confirm, callback=ready)

    def _on_open_error(self, conn: Any, error: BaseException) -> None:
        self.last_error = error
        log.warning(
            "%s: cannot connect to %s (%r); retrying",
            self.owner, self.connection.redacted_url, error,
        )  # fmt: skip
        conn.ioloop.stop()

    def _on_closed(self, conn: Any, reason: BaseException) -> None:
        if not self._closing.is_set():
            self.last_error = reason
            self.disconnects += 1
            log.warning(
                "%s: connection to %s lost (%r); reconnecting",
                self.owner, self.connection.redacted_url, reason,
            )  # fmt: skip
        conn.ioloop.stop()

    def _on_channel_closed(self, channel: Channel, reason: BaseException) -> None:
        conn = self._conn
        self._connected.clear()
        self._fail_awaiting(AMQPLinkDown(f"{self.owner}: channel closed: {reason!r}"))
        if conn is not None and conn.is_open:
            conn.close()

    def _stop(self, conn: SelectConnection) -> None:
        if conn.is_open:
            conn.close()  # _on_closed stops the loop
        elif conn.is_closed:
            conn.ioloop.stop()

    def _send(
        self, outcome: Outcome, exchange: str, messages: Sequence[Message], delivery_mode: int
    ) -> None:
        channel = self._channel
        if channel is None or not channel.is_open:
            for index in range(len(messages)):
                outcome.settle(index, False, AMQPLinkDown(f"{self.owner}: no channel"))
            return
        for index, (routing_key, body, content_type, headers) in enumerate(messages):
            properties = pika.BasicProperties(
                content_type=content_type, delivery_mode=delivery_mode, headers=headers
            )
            self._awaiting[self._next_tag] = (outcome, index)
            self._next_tag += 1
            channel.basic_publish(exchange, routing_key, body, properties, mandatory=True)

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        ok = isinstance(method, pika.spec.Basic.Ack)
        tags = (
            [t for t in self._awaiting if t <= method.delivery_tag]
            if method.multiple
            else [method.delivery_tag]
        )
        cause = None if ok else RuntimeError("the broker nacked the message")
        for tag in tags:
            entry = self._awaiting.pop(tag, None)
            if entry is not None:
                entry[0].settle(entry[1], ok, cause)

    def _on_return(self, channel: Channel, method: Any, properties: Any, body: bytes) -> None:
        # Returned before its ack (rule 2), so its batch is still awaiting: the one batch a
        # flush has out at a time.
        if self._awaiting:
            outcome, _ = self._awaiting[min(self._awaiting)]
            outcome.returned.append(str(method.routing_key))

    def _give_up(self, outcome: Outcome, cause: BaseException) -> None:
        for tag, (batch, index) in list(self._awaiting.items()):
            if batch is outcome:
                del self._awaiting[tag]
                batch.settle(index, False, cause)

    def _fail_awaiting(self, cause: BaseException) -> None:
        awaiting, self._awaiting = self._awaiting, {}
        for batch, index in awaiting.values():
            batch.settle(index, False, cause)
