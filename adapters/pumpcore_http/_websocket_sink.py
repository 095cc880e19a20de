"""HTTPClientWebSocketSink: sends each event as a WebSocket message to a server (BSPump's name).

Rules:
1. It is an ``AsyncSink`` written on anyio, so it runs under every executor (the sync and threads
   executors call it on their bridge's loop thread). ``process`` only encodes and buffers: it
   runs on the executor's loop thread, and an event that cannot be encoded fails alone, through
   the pipeline's error policy. ``aflush`` sends.
2. Durable means "the server has them". After its messages a flush sends a ping and waits for the
   pong; WebSocket frames are ordered, so the pong proves that the server's WebSocket layer read
   every message sent before it (for a ``WebSocketSource``: they are in its queue). With
   ``confirm`` false a flush returns once the messages are written to the socket, and a
   connection that breaks right after may lose them. When the server pipeline runs in the same
   pump (the tutorial), it is not pumped while this flush waits: everything one flush sends
   must fit in that server's buffer (``WebSocketSource``'s ``max_buffered_bytes``, 16 MiB by
   default), or the flush times out and raises.
3. It connects at the first flush, not in ``aopen`` (a server in the same run is listening by
   then), and keeps the connection between flushes.
4. A failed attempt (connection refused or lost, timeout, no pong) drops the connection; the
   flush reconnects and sends the *whole* buffer again, after a backoff (``fail_chilldown``,
   doubled after each failure, at most ``max_chilldown``), up to ``retries`` times. A message
   may therefore arrive twice; none is lost silently.
5. When no attempt succeeded, ``aflush`` raises ``WebSocketClientError`` (the executor reports it
   and acknowledges nothing more in the run) and keeps the buffer: the next flush tries it
   again. A refusal that retrying cannot change fails at once: a handshake answered 4xx (except
   408 and 429), or a close with 1003, 1008 or 1009 (unsupported data, policy, message too big).
6. ``timeout`` bounds each attempt: connecting, sending the buffer and waiting for the pong.
   A flush blocks the pump while it retries (as any sink's does), at most about
   ``(retries + 1) * timeout`` plus the backoffs.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import anyio
import attrs
from anyio.abc import ByteStream
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from pumpcore import AsyncSink, ConfigError, ConfigRule, Context, PumpError
from pumpcore.config import at_least, in_range, positive
from pumpcore.lowlevel import encode_typed_payload

from ._client import redact
from ._listen import GONE, receive_or_none

if TYPE_CHECKING:
    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.http")

# Messages are written to the socket in batches of about this many bytes.
_BATCH = 65536
# How long ``aclose`` waits for the server's answer to its close frame.
_CLOSE_WAIT = 1.0
# Close codes that say the same messages would be refused again (rule 5).
_FINAL_CLOSE_CODES = frozenset(
    {CloseReason.UNSUPPORTED_DATA, CloseReason.POLICY_VIOLATION, CloseReason.MESSAGE_TOO_BIG}
)
_RETRYABLE_STATUS = frozenset({408, 429})
# What a broken connection or a confused peer raises during an attempt.
_ATTEMPT_ERRORS = (*GONE, TimeoutError, LocalProtocolError, RemoteProtocolError)


class WebSocketClientError(PumpError):
    """A flush could not deliver its messages after every attempt (rule 5).

    Attributes:
        url: where the messages were sent.
        attempts: how many attempts were made.
        status: the HTTP status of a refused handshake, None otherwise.
        close_code: the close code the server sent, None when it sent none.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str,
        attempts: int,
        status: int | None = None,
        close_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.attempts = attempts
        self.status = status
        self.close_code = close_code


@attrs.frozen
class WebSocketClientStatistics:
    """What an ``HTTPClientWebSocketSink`` did so far.

    Attributes:
        messages: messages delivered (confirmed by a pong, or written when ``confirm`` is off).
        flushes: flushes that delivered something.
        connects: connections opened (handshakes accepted).
        failed_attempts: attempts that failed (each was retried or ended a flush).
        failures: flushes that raised ``WebSocketClientError``.
    """

    messages: int
    flushes: int
    connects: int
    failed_attempts: int
    failures: int


class _Failed(Exception):
    """An attempt failed on the server's word: refused handshake, close frame."""

    def __init__(
        self, problem: str, *, retryable: bool, status: int | None = None, code: int | None = None
    ) -> None:
        super().__init__(problem)
        self.retryable = retryable
        self.status = status
        self.code = code


class HTTPClientWebSocketSink(AsyncSink):
    """Sends each event as one WebSocket message to ``url`` (BSPump's
    ``HTTPClientWebSocketSink``); see the module's rules for delivery and failures.

    ``str`` events go as text messages, ``bytes`` as binary ones, anything else as JSON text
    (orjson). ``http://`` and ``https://`` URLs are accepted as BSPump's are (they name the same
    endpoint as ``ws://`` and ``wss://``).

    Args:
        url: the URL, or a function giving it, called at each connect; it overrides the config
            key. A function suits a server whose port is known only once it listens: e.g.
            ``url=lambda: server_source.url`` for a ``WebSocketSource`` on port 0 in the same
            run.

    Config:
        url: where to connect. Required unless given as an argument.
        confirm: wait for a pong after the messages of each flush (rule 2).
        retries: how many times a failed attempt is retried within one flush.
        fail_chilldown: seconds before the first retry; doubled for each next one.
        max_chilldown: the longest wait between two attempts.
        timeout: seconds one attempt may take (connect, send, confirm).

    Example:
        >>> sink = HTTPClientWebSocketSink(config={"url": "http://127.0.0.1:8080/bspump/ws"})
        >>> sink.encode({"price": 1})
        '{"price":1}'
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "url": "",
        "confirm": True,
        "retries": 3,
        "fail_chilldown": 0.5,
        "max_chilldown": 10.0,
        "timeout": 10.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "retries": in_range(0, 1000),
        "fail_chilldown": at_least(0),
        "max_chilldown": at_least(0),
        "timeout": positive(),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        url: str | Callable[[], str | None] | None = None,
    ) -> None:
        self._url_arg = url  # read by apply_config, which the base constructor calls
        super().__init__(pipeline, id, config)
        self._buffer: list[str | bytes] = []
        self._conn: tuple[ByteStream, WSConnection] | None = None
        self._pings = 0
        self._n_messages = self._n_flushes = self._n_connects = 0
        self._n_failed = self._n_failures = 0

    def apply_config(self) -> None:
        """Check the configuration."""
        super().apply_config()
        config = self.Config
        owner = f"{type(self).__name__} {self.Id!r}"
        #: The URL from the config (the ``url`` argument, when given, is used instead).
        self.URL = str(config["url"])
        if self.URL and not callable(self._url_arg):
            _endpoint(owner, self.URL)
        if isinstance(self._url_arg, str):
            _endpoint(owner, self._url_arg)
        self._confirm = bool(config["confirm"])
        self._retries = int(config["retries"])
        self._chilldown = float(config["fail_chilldown"])
        self._max_chilldown = float(config["max_chilldown"])
        self._timeout = float(config["timeout"])
        attached = getattr(self, "Pipeline", None) is not None
        if attached and not self.URL and self._url_arg is None:
            raise ConfigError(f"{owner}: config key 'url' is empty; give the WebSocket URL")

    def statistics(self) -> WebSocketClientStatistics:
        """A frozen snapshot of the counters."""
        return WebSocketClientStatistics(
            self._n_messages, self._n_flushes, self._n_connects, self._n_failed, self._n_failures
        )

    @property
    def pending(self) -> int:
        """How many messages wait for a flush (kept after a failed one, rule 5)."""
        return len(self._buffer)

    def encode(self, event: Any) -> str | bytes:
        """The message for ``event``: ``str`` is sent as text, ``bytes`` as binary.

        Override it for another wire format.

        Raises:
            TypeError: the event cannot be written as JSON.
        """
        if isinstance(event, str):
            return event
        data, content_type = encode_typed_payload(event)
        return data if content_type is None else data.decode("utf-8")  # None: bytes-like

    def process(self, context: Context, event: Any) -> None:
        """Encode the event and buffer it until the next flush.

        Raises:
            TypeError: the event cannot be encoded.
        """
        self._buffer.append(self.encode(event))

    async def aflush(self) -> None:
        """Send what was buffered and wait until the server has it (rules 2, 4, 5).

        Raises:
            WebSocketClientError: no attempt delivered the messages; they stay buffered.
        """
        if not self._buffer:
            return
        attempt = 0
        while True:
            attempt += 1
            url = self._url()
            try:
                with anyio.fail_after(self._timeout):
                    await self._attempt(url)
                break
            except (*_ATTEMPT_ERRORS, _Failed) as exc:
                await self._drop()
                self._n_failed += 1
                retryable = exc.retryable if isinstance(exc, _Failed) else True
                problem = str(exc) or type(exc).__name__
                if not retryable or attempt > self._retries:
                    self._n_failures += 1
                    raise WebSocketClientError(
                        f"{type(self).__name__} {self.Id!r}: {len(self._buffer)} message(s) to "
                        f"{redact(url)} not delivered after {attempt} attempt(s): {problem}",
                        url=url,
                        attempts=attempt,
                        status=exc.status if isinstance(exc, _Failed) else None,
                        close_code=exc.code if isinstance(exc, _Failed) else None,
                    ) from exc
                delay = min(self._chilldown * 2 ** (attempt - 1), self._max_chilldown)
                log.warning(
                    "%s: sending to %s failed (%s), retry %d/%d in %.3g s",
                    self.Id, redact(url), problem, attempt, self._retries, delay,
                )  # fmt: skip
                await anyio.sleep(delay)
        self._n_messages += len(self._buffer)
        self._n_flushes += 1
        self._buffer.clear()

    async def aclose(self) -> None:
        """Close the connection with the closing handshake (briefly; then the socket)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        stream, ws = conn
        with anyio.move_on_after(_CLOSE_WAIT), contextlib.suppress(*_ATTEMPT_ERRORS):
            await stream.send(ws.send(CloseConnection(code=CloseReason.NORMAL_CLOSURE)))
            while ws.state is not ConnectionState.CLOSED:
                data = await receive_or_none(stream)
                ws.receive_data(data)
                for _ in ws.events():
                    pass
                if data is None:
                    break
        await anyio.aclose_forcefully(stream)

    # ------------------------------------------------------------ one attempt

    def _url(self) -> str:
        arg = self._url_arg
        url = arg() if callable(arg) else (arg or self.URL)
        if not url:
            raise ConfigError(f"{type(self).__name__} {self.Id!r}: no URL to send to")
        return url

    async def _attempt(self, url: str) -> None:
        if self._conn is None:
            self._conn = await self._connect(url)
        stream, ws = self._conn
        batch = bytearray()
        for message in self._buffer:
            if isinstance(message, str):
                batch += ws.send(TextMessage(data=message))
            else:
                batch += ws.send(BytesMessage(data=message))
            if len(batch) >= _BATCH:
                await stream.send(bytes(batch))
                batch.clear()
        token = b""
        if self._confirm:
            self._pings += 1
            token = b"pumpcore-%d" % self._pings
            batch += ws.send(Ping(payload=token))
        if batch:
            await stream.send(bytes(batch))
        if self._confirm:
            await self._await_pong(stream, ws, token)

    async def _connect(self, url: str) -> tuple[ByteStream, WSConnection]:
        host, port, host_header, target, tls = _endpoint(f"{type(self).__name__} {self.Id!r}", url)
        stream: ByteStream
        if tls:
            stream = await anyio.connect_tcp(host, port, tls=True, tls_hostname=host)
        else:
            stream = await anyio.connect_tcp(host, port)
        try:
            ws = WSConnection(ConnectionType.CLIENT)
            await stream.send(ws.send(Request(host=host_header, target=target)))
            status = 0
            while True:
                data = await receive_or_none(stream)
                if data is None:
                    raise _Failed(
                        "the server closed the connection in the handshake", retryable=True
                    )
                ws.receive_data(data)
                for event in ws.events():
                    if isinstance(event, AcceptConnection):
                        self._n_connects += 1
                        return stream, ws
                    if isinstance(event, RejectConnection):
                        status = event.status_code
                    if isinstance(event, RejectConnection | RejectData) and (
                        ws.state is ConnectionState.CLOSED
                    ):
                        raise _Failed(
                            f"handshake refused with status {status}",
                            retryable=status >= 500 or status in _RETRYABLE_STATUS,
                            status=status,
                        )
        except BaseException:
            await anyio.aclose_forcefully(stream)
            raise

    async def _await_pong(self, stream: ByteStream, ws: WSConnection, token: bytes) -> None:
        while True:
            data = await receive_or_none(stream)
            ws.receive_data(data)  # None: wsproto reports the lost connection as close 1006
            for event in ws.events():
                if isinstance(event, Pong) and event.payload == token:
                    return
                if isinstance(event, Ping):
                    await stream.send(ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if ws.state is ConnectionState.REMOTE_CLOSING:
                        with contextlib.suppress(*_ATTEMPT_ERRORS):
                            await stream.send(ws.send(event.response()))
                    reason = f" ({event.reason})" if event.reason else ""
                    raise _Failed(
                        f"the server closed the connection with {int(event.code)}{reason}",
                        retryable=event.code not in _FINAL_CLOSE_CODES,
                        code=int(event.code),
                    )
            if data is None:
                raise _Failed("the server closed the connection", retryable=True)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await anyio.aclose_forcefully(conn[0])


def _endpoint(owner: str, url: str) -> tuple[str, int, str, str, bool]:
    """``(host, port, Host header, request target, tls)`` of a WebSocket URL.

    Raises:
        ConfigError: not an http(s):// or ws(s):// URL with a host.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    if scheme not in ("http", "https", "ws", "wss") or not parts.hostname or port == -1:
        raise ConfigError(
            f"{owner}: config key 'url' expects a ws://, wss://, http:// or https:// URL, "
            f"got {redact(url)!r}"
        )
    tls = scheme in ("https", "wss")
    host_header = parts.netloc.rpartition("@")[2]
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, port or (443 if tls else 80), host_header, target, tls
