"""NATSSink: publishes events to JetStream; ``flush`` returns only once the server acknowledged
(stored) every one.

Rules:
1. ``process`` only encodes and buffers (it runs on the pipelines' thread); ``flush`` publishes
   the buffer on the client's loop (``_connection.py``) without waiting between messages
   (``publish_async``), then waits for every acknowledgement, each within ``ack_timeout``.
2. A message not acknowledged (a timeout, a disconnect, an error reply) is published again,
   until ``publish_timeout`` has passed since the flush began; then ``flush`` raises
   ``NATSPublishError``. Order is kept unless a message is retried (it then comes after the
   ones acknowledged before it), and a retried message may be stored twice: at-least-once.
3. A subject no stream listens on is an error the server answers at once (no stream
   response): ``flush`` raises without retrying.
4. When ``flush`` raises, the messages not acknowledged are given up (counted as ``failed``):
   the run acknowledges nothing from there on, so a restart reads and publishes them again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import nats.errors
import nats.js.errors

from pumpcore import BlockingSink, ConfigError, ConfigRule, Context
from pumpcore.config import in_range
from pumpcore.lowlevel import encode_payload

from ._connection import Client, NATSConnection

if TYPE_CHECKING:
    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.nats")

# (subject, data) of a message waiting for the next flush.
_Message = tuple[str, bytes]


class NATSPublishError(Exception):
    """Messages JetStream did not acknowledge (module rules 2-3); names the sink and the
    cause."""


@attrs.frozen
class NATSSinkStatistics:
    """What a ``NATSSink`` did so far.

    Attributes:
        published: messages JetStream acknowledged.
        retried: messages published again (rule 2).
        failed: messages given up when ``flush`` raised.
        disconnects: times the connection was lost.
    """

    published: int
    retried: int
    failed: int
    disconnects: int


class NATSSink(BlockingSink):
    """Publishes each event to a JetStream subject, stored by the server before ``flush``
    returns; see the module's rules.

    ``bytes`` go as they are, ``str`` as UTF-8, anything else as JSON (orjson). The subject is
    the context's ``subject`` when it has one, the config's otherwise.

    Args:
        connection: the servers (a ``NATSConnection``); the default is localhost's.

    Config:
        subject: the subject when the context gives none; a stream must listen on it.
        ack_timeout: seconds to wait for one message's acknowledgement.
        publish_timeout: seconds a flush keeps retrying unacknowledged messages (rule 2).

    Example:
        >>> NATSSink(config={"subject": "orders.out"}).Subject
        'orders.out'
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "subject": "",
        "ack_timeout": 5.0,
        "publish_timeout": 60.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "ack_timeout": in_range(0.01, 3600),
        "publish_timeout": in_range(0, 86400),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        connection: NATSConnection | None = None,
    ) -> None:
        #: The servers this sink publishes to.
        self.Connection = connection if connection is not None else NATSConnection()
        super().__init__(pipeline, id, config)
        self._buffer: list[_Message] = []
        self._client: Client | None = None
        self._n_published = self._n_retried = self._n_failed = self._disconnects = 0

    def apply_config(self) -> None:
        super().apply_config()
        config = self.Config
        #: The subject when the context gives none.
        self.Subject = str(config["subject"])
        self._ack_timeout = float(config["ack_timeout"])
        self._publish_timeout = float(config["publish_timeout"])
        if self.Pipeline is not None and not self.Subject:
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: config key 'subject' is empty; "
                "give the subject to publish to"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.Id!r}, subject={self.Subject!r}, {self.Connection!r})"

    def statistics(self) -> NATSSinkStatistics:
        """A frozen snapshot of the counters."""
        client = self._client
        return NATSSinkStatistics(
            self._n_published,
            self._n_retried,
            self._n_failed,
            self._disconnects + (0 if client is None else client.disconnects),
        )

    def encode(self, event: Any) -> bytes:
        """The message data for ``event``; override it for another format.

        Raises:
            TypeError: the event cannot be written as JSON.
        """
        return encode_payload(event)

    def process(self, context: Context, event: Any) -> None:
        """Encode the event and buffer it for the next flush.

        Raises:
            TypeError: the event cannot be encoded (the pipeline's error policy decides).
        """
        subject = context.get("subject")
        self._buffer.append((self.Subject if subject is None else str(subject), self.encode(event)))

    # ------------------------------------------------------------ BlockingSink

    def open(self) -> None:
        """Connect.

        Raises:
            ConnectionError: no server answered within ``connect_timeout``.
        """
        client = self.Connection.client(f"{type(self).__name__} {self.Id!r}")
        client.start()
        self._client = client

    def flush(self) -> None:
        """Publish everything buffered, each acknowledged by JetStream (rules 1-4).

        Raises:
            NATSPublishError: a subject has no stream, or a message stayed unacknowledged for
                ``publish_timeout`` seconds.
        """
        client = self._client
        assert client is not None, "flush before open"
        pending, self._buffer = self._buffer, []
        deadline = time.monotonic() + self._publish_timeout
        while pending:
            try:
                failed, cause = client.call(partial(self._publish, client, pending))
            except (TimeoutError, nats.errors.Error, OSError) as exc:
                failed, cause = pending, exc
            self._n_published += len(pending) - len(failed)
            if not failed:
                return
            if (
                isinstance(cause, nats.js.errors.NoStreamResponseError)
                or time.monotonic() >= deadline
            ):
                self._n_failed += len(failed)
                raise NATSPublishError(
                    f"{type(self).__name__} {self.Id!r}: {len(failed)} messages not stored by "
                    f"JetStream at {self.Connection.redacted} (first subject "
                    f"{failed[0][0]!r}) within publish_timeout={self._publish_timeout} s: "
                    f"{cause!r}"
                ) from cause
            self._n_retried += len(failed)
            log.info("%s %r: publishing %d again after %r", type(self).__name__, self.Id,
                     len(failed), cause)  # fmt: skip
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
            pending = failed

    async def _publish(
        self, client: Client, pending: list[_Message]
    ) -> tuple[list[_Message], BaseException | None]:
        """On the client's loop: publish every message, then wait for their acknowledgements;
        return the ones not acknowledged and the first cause."""
        nc = client.nc
        assert nc is not None
        js = nc.jetstream()
        futures = []
        for subject, data in pending:
            futures.append(await js.publish_async(subject, data, wait_stall=self._ack_timeout))
        _, late = await asyncio.wait(futures, timeout=self._ack_timeout)
        failed: list[_Message] = []
        cause: BaseException | None = None
        for message, future in zip(pending, futures, strict=True):
            if future in late:
                future.cancel()  # frees its place among nats-py's pending publishes
                failed.append(message)
                cause = cause or TimeoutError(f"no acknowledgement within {self._ack_timeout} s")
            elif future.exception() is not None:  # an error reply, a lost connection
                failed.append(message)
                cause = cause or future.exception()
        return failed, cause

    def close(self) -> None:
        """Disconnect. Messages still buffered (the last flush failed) are not sent; their
        positions were never acknowledged."""
        client, self._client = self._client, None
        self._buffer.clear()
        if client is not None:
            self._disconnects += client.disconnects
            client.close()
