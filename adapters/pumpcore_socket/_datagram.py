"""DatagramSource and DatagramSink: UDP (or Unix datagram) sockets, one datagram per event.

Rules:
1. ``DatagramSource.open`` binds (port 0 is resolved: see ``addresses``); ``serve`` reads the
   sockets into the bounded queue ``read`` drains (``_queued.py``). When the pipeline is
   throttled the queue fills, the sockets are no longer read, and the kernel drops what its
   receive buffer (``receive_buffer_size``) cannot hold: UDP has no backpressure, and those
   drops are the kernel's (``netstat -su``: receive buffer errors), not counted here.
2. A datagram larger than ``max_packet_size`` is not emitted cut short, and one that does not
   decode with ``encoding`` is not emitted at all: each is handed to the pipeline as a
   ``Rejected`` (counted as ``event.rejected``, dead-lettered with the bytes received) and
   counted here (``datagrams_truncated``, ``datagrams_undecodable``). An event that fails in a
   processor is that datagram's failure (``isolate_failures``): the source goes on whatever
   the error policy says. No positions: nothing to acknowledge.
3. ``DatagramSink.process`` encodes and buffers (an event over ``max_packet_size`` raises
   ``ValueError`` there: the pipeline's error policy handles it); ``aflush`` sends each
   datagram and returns once the kernel took them all. UDP never confirms delivery. A send that
   fails (an earlier datagram was refused by the peer, say) is retried on a new socket up to
   ``retries`` times with a doubling delay; then ``aflush`` raises ``SocketError`` and what is
   unsent stays buffered.
"""

from __future__ import annotations

import logging
import socket
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import anyio.lowlevel
import attrs

from pumpcore import AsyncSink, ConfigRule, Context, Received
from pumpcore.config import in_range, text_codec
from pumpcore.lowlevel import Rejected

from ._address import Address, family_name, format_sockaddr, parse_addresses
from ._client import RETRY_RULES, parse_destination
from ._errors import SocketError
from ._lines import encode_event
from ._queued import QueuedSource
from ._rawsock import bind_datagram, connect, remove_socket_file
from ._warnings import Warnings

#: The largest ``max_packet_size``: 1 MiB.
MAX_DATAGRAM = 2**20

if TYPE_CHECKING:
    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.socket")

# Pause after a failing receive before reading the socket again.
RECEIVE_RETRY = 0.1
# Seconds to create a datagram socket (a local operation: no handshake to wait for).
CONNECT_TIMEOUT = 5.0


@attrs.frozen
class DatagramSourceStatistics:
    """What a datagram source did so far.

    Attributes:
        datagrams: datagrams queued for the pipeline.
        bytes_received: bytes of those datagrams.
        datagrams_truncated: datagrams over ``max_packet_size``, rejected.
        datagrams_undecodable: datagrams that did not decode with ``encoding``, rejected.
        receive_errors: failed receives (the socket is read again after a pause).
        buffered: datagrams in the queue between the sockets and the pipeline now.
        buffered_max: the most that queue ever held (at most ``queue_max_size``).
        buffered_bytes: bytes of those datagrams.
        buffered_bytes_max: the most bytes ever held (at most ``max_buffered_bytes``, or one
            datagram when that is smaller).
    """

    datagrams: int
    bytes_received: int
    datagrams_truncated: int
    datagrams_undecodable: int
    receive_errors: int
    buffered: int
    buffered_max: int
    buffered_bytes: int
    buffered_bytes_max: int


@attrs.frozen
class DatagramSinkStatistics:
    """What a datagram sink did so far.

    Attributes:
        datagrams_sent: datagrams handed to the operating system.
        bytes_sent: their bytes.
        pending: datagrams buffered and not yet sent.
        send_failures: sends that failed (each retried or raised).
    """

    datagrams_sent: int
    bytes_sent: int
    pending: int
    send_failures: int


class DatagramSource(QueuedSource):
    """Receives UDP (or Unix datagram) datagrams; each one is an event: BSPump's
    ``DatagramSource``.

    Each event's context::

        {"datagram_type": "AF_INET",          # AF_INET, AF_INET6 or AF_UNIX
         "datagram_peer": "127.0.0.1 40112",  # the sender ("" for an unnamed Unix sender)
         "datagram_me": "127.0.0.1 8888"}     # the address that received it

    No positions: UDP has no replay. See the module rules for drops and backpressure.

    Config:
        address: ``"host port"`` or a Unix socket path; several separated by newlines or ``;``.
        max_packet_size: the largest datagram taken, in bytes.
        encoding: ``""`` emits ``bytes`` (BSPump's behaviour); a codec name emits ``str``.
        receive_buffer_size: the kernel's receive buffer (``SO_RCVBUF``); 0 keeps the default.
        queue_max_size: datagrams held between the sockets and the pipeline.
        max_buffered_bytes: the most bytes of datagrams held (``_limits.py`` rule 3).

    Attributes:
        addresses: where the source listens, once opened.

    Example:
        >>> DatagramSource(config={"address": "0.0.0.0 5140"}).Config["max_packet_size"]
        65536
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "address": "127.0.0.1 8888",
        "max_packet_size": 65536,
        "encoding": "",
        "receive_buffer_size": 0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        # recvfrom allocates max_packet_size per read: no datagram is bigger than 64 KiB over
        # IP, and Linux caps a Unix one below 1 MiB by default.
        "max_packet_size": in_range(1, MAX_DATAGRAM),
        # The OS caps SO_RCVBUF (Linux rmem_max); a huge value fails at open, not here.
        "receive_buffer_size": in_range(0, 2**30),
        "encoding": text_codec(allow_empty=True),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.addresses: tuple[str, ...] = ()
        self._sockets: list[tuple[socket.socket, str]] = []
        self._unix_paths: list[str] = []
        self._datagrams = self._bytes = self._truncated = self._undecodable = 0
        self._receive_errors = 0
        super().__init__(pipeline, id, config)
        self._warnings = Warnings(log, self.locate_address)

    def apply_config(self) -> None:
        """Parse ``address`` and check the other keys.

        Raises:
            ConfigError: a bad address, size or encoding.
        """
        super().apply_config()
        config, owner = self.Config, self.owner
        self._parsed: tuple[Address, ...] = parse_addresses(
            owner, "address", config["address"], many=True
        )

    def statistics(self) -> DatagramSourceStatistics:
        """The counters so far (see ``DatagramSourceStatistics``)."""
        buffered, buffered_max = self._buffered()
        return DatagramSourceStatistics(
            datagrams=self._datagrams,
            bytes_received=self._bytes,
            datagrams_truncated=self._truncated,
            datagrams_undecodable=self._undecodable,
            receive_errors=self._receive_errors,
            buffered=buffered,
            buffered_max=buffered_max,
            buffered_bytes=self.budget.held,
            buffered_bytes_max=self.budget.peak,
        )

    async def open(self) -> None:
        """Bind every address.

        Raises:
            SocketError: an address could not be bound.
        """
        size = int(self.Config["receive_buffer_size"])
        bound: list[tuple[socket.socket, str]] = []
        try:
            for address in self._parsed:
                try:
                    sock = await bind_datagram(address, size)
                except OSError as exc:
                    raise SocketError(
                        f"{self.locate_address()}: cannot bind {str(address)!r}: {exc}"
                    ) from exc
                if address.path is not None:
                    self._unix_paths.append(address.path)
                    bound.append((sock, address.path))
                else:
                    bound.append((sock, format_sockaddr(sock.getsockname())))
        except BaseException:
            for sock, _ in bound:
                sock.close()
            self._remove_unix_files()
            raise
        self._sockets = bound
        self.addresses = tuple(me for _, me in bound)
        self._open_queue()

    async def serve(self) -> None:
        """Read every socket into the queue until cancelled."""
        async with anyio.create_task_group() as tg:
            for sock, me in self._sockets:
                tg.start_soon(self._receive_loop, sock, me)

    async def aclose(self) -> None:
        """Close the sockets, drop what is queued, remove Unix socket files this source made."""
        sockets, self._sockets = self._sockets, []
        for sock, _ in sockets:
            sock.close()
        self._remove_unix_files()
        await self._close_queue()
        self._warnings.close()

    def _remove_unix_files(self) -> None:
        for path in self._unix_paths:
            remove_socket_file(path)
        self._unix_paths = []

    async def _receive_loop(self, sock: socket.socket, me: str) -> None:
        limit = int(self.Config["max_packet_size"])
        encoding = str(self.Config["encoding"])
        kind = family_name(sock.family)
        while True:
            await anyio.wait_readable(sock)
            while True:
                try:
                    data, _, flags, peer = sock.recvmsg(limit)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    self._receive_errors += 1
                    self._warnings.warn("receive failed", "on %s: %r", me, exc)
                    await anyio.sleep(RECEIVE_RETRY)
                    break
                context: Context = {
                    "datagram_type": kind,
                    "datagram_peer": format_sockaddr(peer) if peer else "",
                    "datagram_me": me,
                }
                if flags & socket.MSG_TRUNC:
                    self._truncated += 1
                    reason = f"a datagram over {limit} bytes (its first {limit} kept)"
                    await self._put(Rejected(data, reason, None, context), len(data))
                    continue
                event: Any = data
                if encoding:
                    try:
                        event = data.decode(encoding)
                    except UnicodeDecodeError as exc:
                        self._undecodable += 1
                        await self._put(
                            Rejected(data, f"not {encoding}: {exc}", None, context), len(data)
                        )
                        continue
                await self._put(Received(event, None, context), len(data))
                self._datagrams += 1
                self._bytes += len(data)


class DatagramSink(AsyncSink):
    """Sends each event as one datagram (UDP or Unix datagram): BSPump's ``DatagramSink``.

    Events are encoded as ``StreamClientSink`` encodes them (bytes, ``str``, dict or list as
    JSON), without a line terminator. See the module rules for what ``aflush`` promises.

    Config:
        address: ``"host port"`` or a Unix datagram socket path.
        encoding: how ``str`` events are encoded.
        max_packet_size: the largest datagram sent (65507 is UDP's limit over IPv4).
        retries, retry_delay, retry_delay_max: as for ``StreamClientSink``.

    Example:
        >>> sink = DatagramSink(config={"address": "127.0.0.1 5140"})
        >>> sink.process({}, "one datagram")
        >>> sink.statistics().pending
        1
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "address": "127.0.0.1 8888",
        "encoding": "utf-8",
        "max_packet_size": 65507,
        "retries": 3,
        "retry_delay": 0.1,
        "retry_delay_max": 2.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        **RETRY_RULES,
        "max_packet_size": in_range(1, MAX_DATAGRAM),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._pending: deque[bytes] = deque()
        self._sock: socket.socket | None = None
        self._sent = self._bytes_sent = self._failures = 0
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        """Parse ``address`` and check the other keys.

        Raises:
            ConfigError: a bad address, encoding, size, retry count or delay.
        """
        owner = f"{type(self).__name__} {self.Id!r}"
        self._address = parse_destination(owner, self.Config["address"])

    def statistics(self) -> DatagramSinkStatistics:
        """The counters so far (see ``DatagramSinkStatistics``)."""
        return DatagramSinkStatistics(
            datagrams_sent=self._sent,
            bytes_sent=self._bytes_sent,
            pending=len(self._pending),
            send_failures=self._failures,
        )

    def process(self, context: Context, event: Any) -> None:
        """Buffer the event as one datagram.

        Raises:
            TypeError: the event is not bytes, str, a dict or a list.
            ValueError: the encoded event is larger than ``max_packet_size``.
        """
        data = encode_event(event, str(self.Config["encoding"]))
        limit = int(self.Config["max_packet_size"])
        if len(data) > limit:
            raise ValueError(f"a datagram of {len(data)} bytes is over max_packet_size {limit}")
        self._pending.append(data)

    async def aflush(self) -> None:
        """Send every buffered datagram (module rule 3).

        Raises:
            SocketError: the datagrams could not be sent after ``retries`` retries; they stay
                buffered.
        """
        config = self.Config
        retries, delay = int(config["retries"]), float(config["retry_delay"])
        attempt = 0
        pending = self._pending
        while pending:
            try:
                if self._sock is None:
                    self._sock = await connect(self._address, socket.SOCK_DGRAM, CONNECT_TIMEOUT)
                while pending:
                    await anyio.lowlevel.checkpoint()
                    await _send_datagram(self._sock, pending[0])
                    self._bytes_sent += len(pending.popleft())
                    self._sent += 1
            except OSError as exc:
                self._close()
                self._failures += 1
                attempt += 1
                if attempt > retries:
                    raise SocketError(
                        f"{self.locate_address()}: {len(pending)} datagrams not sent to "
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
        """Close the socket; log an error for datagrams that were never sent."""
        self._close()
        if self._pending:
            log.error(
                "%s: closed with %d datagrams not sent to %s",
                self.locate_address(),
                len(self._pending),
                self._address,
            )

    def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


async def _send_datagram(sock: socket.socket, data: bytes) -> None:
    while True:
        try:
            sock.send(data)
            return
        except (BlockingIOError, InterruptedError):
            await anyio.wait_writable(sock)
