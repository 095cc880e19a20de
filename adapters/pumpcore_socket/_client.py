"""StreamClientSink: writes each event as a line to a TCP or Unix stream server.

Rules:
1. An ``AsyncSink`` (written on anyio, so it runs under every executor): ``process`` encodes
   the event and buffers it; ``aflush`` connects when needed and writes the buffer. A
   ``BlockingSink`` would have held a worker thread per flush for no gain.
2. An event becomes one line: bytes as they are, ``str`` encoded with ``encoding``, a dict or a
   list as JSON; a ``\\n`` is appended unless the event already ends with one. Any other event
   raises ``TypeError`` in ``process``: the pipeline's error policy handles it.
3. ``aflush`` returns once every buffered byte was handed to the operating system (the kernel
   accepted it). It cannot know that the server read it: TCP has no acknowledgement an
   application sees, and bytes still in the kernel when a connection breaks are lost.
4. Before writing on an open connection, ``aflush`` checks that the server has not closed it
   (otherwise the first write after a server restart is accepted by the kernel and lost) and
   reconnects if so.
5. A failed connect or write closes the connection and is retried up to ``retries`` times per
   flush, waiting ``retry_delay`` seconds, doubled after each failure up to
   ``retry_delay_max``. A line that was partly written when the connection broke is sent again
   whole on the new connection (the server drops the cut-off head: see StreamServerSource).
   After the last retry ``aflush`` raises ``SocketError``: nothing is silently dropped. What
   was not sent stays buffered for the next flush; ``aclose`` logs an error when lines are
   still unsent (``statistics().pending`` tells how many).
6. Lines are written in the order the events came; bytes the server sends are read and
   discarded (the sink never answers them), as in BSPump.
7. No TLS yet.
"""

from __future__ import annotations

import logging
import socket
from collections import deque
from collections.abc import Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import anyio.lowlevel
import attrs

from pumpcore import AsyncSink, ConfigError, ConfigRule, Context, config_value_repr
from pumpcore.config import in_range, positive, text_codec

from ._address import Address, parse_addresses
from ._errors import SocketError
from ._lines import encode_event
from ._rawsock import connect, peer_closed, send_some

if TYPE_CHECKING:
    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.socket")

# The most bytes handed to one ``send`` call.
SEND_SIZE = 65536


@attrs.frozen
class StreamClientSinkStatistics:
    """What a stream client sink did so far.

    Attributes:
        lines_sent: lines handed to the operating system whole.
        bytes_sent: bytes handed to the operating system (a line resent after a reconnect
            counts twice).
        pending: lines buffered and not yet sent.
        connects: connections made.
        send_failures: connects or writes that failed (each retried or raised).
    """

    lines_sent: int
    bytes_sent: int
    pending: int
    connects: int
    send_failures: int


# The retry keys the sinks share, and their encoding (rule 6 of pumpcore/_config.py).
RETRY_RULES: Mapping[str, ConfigRule] = {
    "encoding": text_codec(allow_empty=True),
    "retries": in_range(0, 10**6),
    "retry_delay": positive(),
    "retry_delay_max": positive(),
    "connect_timeout": positive(),
}


def parse_destination(owner: str, value: Any) -> Address:
    """The one address a sink sends to.

    Raises:
        ConfigError: not exactly one address, or no host (``*``) to connect to.
    """
    (address,) = parse_addresses(owner, "address", value, many=False)
    if address.path is None and address.host is None:
        raise ConfigError(
            f"{owner}: config key 'address' needs a host to send to, got "
            f"{config_value_repr('address', value)}"
        )
    return address


class StreamClientSink(AsyncSink):
    """Sends each event as a line to a stream server: BSPump's ``StreamClientSink``.

    Config:
        address: ``"host port"`` (``"127.0.0.1 8888"``) or a Unix socket path.
        encoding: how ``str`` events are encoded.
        connect_timeout: seconds one connection attempt may take.
        retries: how many times one flush reconnects after a failure before it raises.
        retry_delay: seconds before the first retry; doubled after each failure.
        retry_delay_max: the longest wait between retries.

    Example:
        >>> sink = StreamClientSink(config={"address": "127.0.0.1 8888"})
        >>> sink.process({}, {"user": "x"})
        >>> sink.process({}, "done")
        >>> sink.statistics().pending
        2
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "address": "127.0.0.1 8888",
        "encoding": "utf-8",
        "connect_timeout": 5.0,
        "retries": 3,
        "retry_delay": 0.1,
        "retry_delay_max": 2.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = RETRY_RULES

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._pending: deque[bytes] = deque()
        self._offset = 0  # bytes of the first pending line already handed to the kernel
        self._sock: socket.socket | None = None
        self._lines_sent = self._bytes_sent = self._connects = self._failures = 0
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        """Parse ``address`` and check the other keys.

        Raises:
            ConfigError: a bad address, encoding, retry count, delay or timeout.
        """
        owner = f"{type(self).__name__} {self.Id!r}"
        self._address = parse_destination(owner, self.Config["address"])

    def statistics(self) -> StreamClientSinkStatistics:
        """The counters so far (see ``StreamClientSinkStatistics``)."""
        return StreamClientSinkStatistics(
            lines_sent=self._lines_sent,
            bytes_sent=self._bytes_sent,
            pending=len(self._pending),
            connects=self._connects,
            send_failures=self._failures,
        )

    def process(self, context: Context, event: Any) -> None:
        """Buffer the event as a line (rule 2).

        Raises:
            TypeError: the event is not bytes, str, a dict or a list.
            UnicodeEncodeError: a ``str`` the encoding cannot represent.
        """
        line = encode_event(event, str(self.Config["encoding"]))
        if not line.endswith(b"\n"):
            line += b"\n"
        self._pending.append(line)

    async def aopen(self) -> None:
        """Try to connect, so that a reachable server sees the client at once; a failure is
        only logged: every flush connects again when needed (rule 5)."""
        try:
            await self._connected()
        except OSError as exc:
            log.warning(
                "%s: cannot connect to %s yet: %r", self.locate_address(), self._address, exc
            )

    async def aflush(self) -> None:
        """Write every buffered line (rules 3-5).

        Raises:
            SocketError: the lines could not be handed to the operating system after
                ``retries`` reconnections; they stay buffered.
        """
        config = self.Config
        retries, delay = int(config["retries"]), float(config["retry_delay"])
        attempt = 0
        while self._pending:
            try:
                sock = await self._connected()
                await self._send_pending(sock)
            except OSError as exc:
                self._disconnect()
                self._offset = 0  # rule 5: the cut line goes again whole
                self._failures += 1
                attempt += 1
                if attempt > retries:
                    raise SocketError(
                        f"{self.locate_address()}: {len(self._pending)} lines not sent to "
                        f"{self._address} after {attempt} attempts: {exc}"
                    ) from exc
                log.warning(
                    "%s: sending to %s failed (%r); retrying in %.2f s",
                    self.locate_address(),
                    self._address,
                    exc,
                    delay,
                )
                await anyio.sleep(delay)
                delay = min(delay * 2, float(config["retry_delay_max"]))

    async def aclose(self) -> None:
        """Close the connection; log an error for lines that were never sent."""
        self._disconnect()
        if self._pending:
            log.error(
                "%s: closed with %d lines not sent to %s",
                self.locate_address(),
                len(self._pending),
                self._address,
            )

    # ------------------------------------------------------------ internals

    async def _connected(self) -> socket.socket:
        sock = self._sock
        if sock is not None and peer_closed(sock):  # rule 4
            log.info(
                "%s: %s closed the connection; reconnecting", self.locate_address(), self._address
            )
            self._disconnect()
            self._offset = 0
            sock = None
        if sock is None:
            sock = await connect(
                self._address, socket.SOCK_STREAM, float(self.Config["connect_timeout"])
            )
            self._sock = sock
            self._connects += 1
        return sock

    def _disconnect(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def _send_pending(self, sock: socket.socket) -> None:
        pending = self._pending
        while pending:
            await anyio.lowlevel.checkpoint()  # a long buffer must not hold the loop
            parts = [memoryview(pending[0])[self._offset :]]
            size = len(parts[0])
            for line in islice(pending, 1, None):
                if size >= SEND_SIZE:
                    break
                parts.append(memoryview(line))
                size += len(line)
            sent = await send_some(sock, b"".join(parts))
            self._bytes_sent += sent
            while sent:
                rest = len(pending[0]) - self._offset
                if sent < rest:
                    self._offset += sent
                    break
                sent -= rest
                pending.popleft()
                self._offset = 0
                self._lines_sent += 1
