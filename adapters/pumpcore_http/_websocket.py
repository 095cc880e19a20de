"""WebSocketSource: a WebSocket server (BSPump's name); every message a client sends is an event.

The protocol is wsproto's, over anyio streams.

Rules:
1. The opening handshake must be a WebSocket upgrade to ``path`` within ``handshake_timeout``;
   anything else is answered with an HTTP error (400 for a bad handshake, wsproto's 426 for a
   wrong protocol version, 404 for another path) and the connection closed.
2. A text message becomes a ``str`` event, a binary one ``bytes``, whole (fragments joined).
   A message growing over ``max_message_size`` closes its connection with 1009 (message too
   big); other connections go on. An event that fails in a processor is that message's
   failure (``isolate_failures``): counted as a warning, dead-lettered, and the server goes on.
3. Pings are answered with pongs; a client's close is answered with a close, as RFC 6455 asks.
   A frame wsproto cannot parse closes the connection with the code it names (1002, 1007).
   Each of these bad inputs (a message too big, a frame that does not parse) is counted here and
   handed to the pipeline as a ``Rejected`` (``event.rejected``, dead-lettered with the
   connection's context; none of its bytes are kept).
4. Backpressure: every message's bytes, from its first fragment on, are taken from the budget
   (``max_buffered_bytes``, ``_listen.py`` rule 2) and given back once ``read`` hands the message
   over. A connection whose next fragment finds no room waits for it before it reads on, so a
   client that outpaces the pipeline is slowed down by TCP, never dropped; pings behind the
   waiting fragment wait too. When no queued message holds the budget (messages still arriving
   hold it all), the connection is closed with 1013 (try again later) instead, and counted
   (``over_budget``): no ``read`` would make room. A connection that sends nothing for
   ``idle_timeout`` seconds is closed with 1001 and counted (``timeouts``), as is a handshake
   slower than ``handshake_timeout``. The budget is generous (16 MiB), because a client that
   confirms its messages with a ping (``HTTPClientWebSocketSink``) in the *same run* waits for
   the pong while the executor flushes, i.e. while this source's pipeline is not pumped:
   everything one flush sends must fit in the budget, or that flush times out and raises.
5. WebSocket has no acknowledgements: once a message was read from the socket, a stop or a crash
   before the pipeline took it loses it. A client that needs more (``HTTPClientWebSocketSink``)
   confirms with a ping after its messages, which proves they reached this server's queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar

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
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from pumpcore import ConfigRule, Context, Received
from pumpcore.config import in_range
from pumpcore.lowlevel import Rejected

from ._client import URL_PATH
from ._listen import ServerSource, peer_of, receive_or_none

if TYPE_CHECKING:
    from pumpcore import Pipeline

# How long a closing server waits for the client's close frame (RFC 6455 section 7.1.1).
_CLOSE_WAIT = 1.0
# The most bytes it reads (and drops) meanwhile: a client that goes on sending is cut off.
_CLOSE_DISCARD = 1048576


@attrs.frozen
class WebSocketServerStatistics:
    """What a ``WebSocketSource`` did so far.

    Attributes:
        connections: WebSocket connections opened (handshakes accepted).
        rejected: handshakes refused (bad request, wrong path).
        messages: messages queued as events.
        too_large: connections closed with 1009 for a message over ``max_message_size``.
        protocol_errors: connections closed because a frame could not be parsed.
        errors: connections ended by an unexpected error (logged).
        connections_refused: connections closed at once, over ``max_connections``.
        timeouts: connections closed for a slow handshake or ``idle_timeout`` without a byte.
        over_budget: connections closed with 1013: partial messages held the whole budget.
        handshake_failures: TLS handshakes that failed or timed out.
        buffered_bytes: bytes of messages (whole or in part) held now.
        buffered_bytes_max: the most ever held (at most ``max_buffered_bytes``, or one
            fragment when that is smaller).
    """

    connections: int
    rejected: int
    messages: int
    too_large: int
    protocol_errors: int
    errors: int
    connections_refused: int
    timeouts: int
    over_budget: int
    handshake_failures: int
    buffered_bytes: int
    buffered_bytes_max: int


class WebSocketSource(ServerSource):
    """Serves WebSocket connections on ``path`` and emits each message a client sends
    (BSPump's ``WebSocketSource``; see the module's rules).

    The event's context holds ``path`` (the request target, query included) and ``peer`` (the
    client's ``(host, port)``). Runs under every executor: it is written on anyio, and the sync
    and threads executors run it on their bridge's loop thread.

    Config:
        address: where to listen, ``"host port"``; port 0 picks a free one (the ``address``
            property tells which).
        max_buffered_bytes: how many bytes of messages may be held before connections pause
            (rule 4).
        queue_max_size: how many messages may wait for the pipeline before connections pause.
        max_connections: connections served at once; more are closed at once.
        idle_timeout: seconds a connection may send nothing before it is closed.
        path: the path clients connect to.
        max_message_size: the largest message accepted, in bytes; beyond, the connection is
            closed with 1009.
        handshake_timeout: seconds a client has to complete the opening handshake (and,
            with TLS, as many for the TLS handshake before it).
        cert, key: serve WSS with this certificate chain and key (PEM files).

    Example:
        >>> WebSocketSource(config={"address": "0.0.0.0 8080"}).Path
        '/bspump/ws'
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "max_buffered_bytes": 16777216,
        "path": "/bspump/ws",
        "max_message_size": 1048576,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "path": URL_PATH,
        # Held in memory whole.
        "max_message_size": in_range(1, 2**30),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(pipeline, id, config)
        self._n_connections = self._n_rejected = self._n_messages = 0
        self._n_too_large = self._n_protocol_errors = self._n_over_budget = 0

    def apply_config(self) -> None:
        """Check the configuration."""
        super().apply_config()
        config = self.Config
        #: The path clients connect to.
        self.Path = str(config["path"])
        self._max_message = int(config["max_message_size"])
        self._handshake_timeout = float(config["handshake_timeout"])
        self._idle_timeout = float(config["idle_timeout"])

    @property
    def url(self) -> str | None:
        """``ws://host:port/path`` (``wss``) once listening; None before."""
        return self.url_of("ws", self.Path)

    def statistics(self) -> WebSocketServerStatistics:
        """A frozen snapshot of the counters."""
        return WebSocketServerStatistics(
            self._n_connections,
            self._n_rejected,
            self._n_messages,
            self._n_too_large,
            self._n_protocol_errors,
            self.listener.errors,
            self.listener.slots.refused,
            self._n_timeouts,
            self._n_over_budget,
            self.listener.handshake_failures,
            self.budget.held,
            self.budget.peak,
        )

    async def _room_for(self, size: int) -> bool:
        """Take ``size`` bytes from the budget, waiting while queued messages hold it (``read``
        gives their bytes back); False when only messages still arriving hold it (rule 4)."""
        while not self.budget.try_take(size):
            if not self.queued_bytes:
                self._n_over_budget += 1
                return False
            await self.budget.given_back()
        return True

    async def _reject_input(self, reason: str, context: Context) -> None:
        """Queue bad input for the pipeline (rule 3); it holds no bytes, so it takes no room."""
        await self._put(Rejected(None, reason, None, dict(context)), 0)

    # ------------------------------------------------------------ one connection

    async def handle_connection(self, stream: ByteStream) -> None:
        """Run the handshake, then receive messages until the connection closes."""
        ws = WSConnection(ConnectionType.SERVER)
        target: str | None = None
        with anyio.move_on_after(self._handshake_timeout):
            target = await self._handshake(ws, stream)
        if target is None:
            if ws.state is ConnectionState.CONNECTING:
                self._n_timeouts += 1  # too slow, or gone before finishing
            return
        self._n_connections += 1
        context: Context = {"path": target, "peer": peer_of(stream)}
        await self._messages(ws, stream, context)

    async def _messages(self, ws: WSConnection, stream: ByteStream, context: Context) -> None:
        """Queue the connection's messages until it closes (rules 2-4); what a message cut
        short held of the budget is given back."""
        partial = _Partial()
        try:
            while await self._receive_once(ws, stream, context, partial):
                pass
        finally:
            self.budget.give_back(partial.taken)

    async def _receive_once(
        self, ws: WSConnection, stream: ByteStream, context: Context, partial: _Partial
    ) -> bool:
        """Receive once and act on the events; False once the connection is to end."""
        data: bytes | None = b""
        with anyio.move_on_after(self._idle_timeout):
            data = await receive_or_none(stream)
        if data == b"":
            self._n_timeouts += 1
            await _close(ws, stream, CloseReason.GOING_AWAY, "idle")
            return False
        ws.receive_data(data)  # None: the peer is gone (wsproto reports 1006)
        for event in ws.events():
            if isinstance(event, TextMessage | BytesMessage):
                if isinstance(event, TextMessage):
                    partial.texts.append(event.data)
                    n = len(event.data.encode("utf-8"))
                else:
                    partial.blobs.append(bytes(event.data))
                    n = len(event.data)
                if partial.size + n > self._max_message:
                    self._n_too_large += 1
                    reason = f"message over {self._max_message} bytes"
                    await self._reject_input(f"a {reason}", context)
                    await _close(ws, stream, CloseReason.MESSAGE_TOO_BIG, reason)
                    return False
                if not await self._room_for(n):
                    await _close(ws, stream, CloseReason.TRY_AGAIN_LATER, "server busy")
                    return False
                partial.size += n
                partial.taken += n
                if event.message_finished:
                    message = partial.take()
                    # Its bytes were taken fragment by fragment; a full queue waits (rule 4).
                    item = Received(message, context=dict(context))
                    await self._put_all([(item, partial.taken)], 0)
                    partial.taken = 0
                    self._n_messages += 1
            elif isinstance(event, Ping):
                await stream.send(ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                if ws.state is ConnectionState.REMOTE_CLOSING:
                    await stream.send(ws.send(event.response()))
                elif ws.state is ConnectionState.OPEN:
                    # wsproto reports a frame it could not parse as a close it received.
                    self._n_protocol_errors += 1
                    why = f"a frame that does not parse ({event.code}): {event.reason or ''}"
                    await self._reject_input(why.rstrip(": "), context)
                    await _close(ws, stream, event.code, event.reason or "")
                return False
        return data is not None

    async def _handshake(self, ws: WSConnection, stream: ByteStream) -> str | None:
        """The request target once accepted; None when refused or the client went away."""
        while True:
            data = await receive_or_none(stream)
            if data is None:
                return None
            try:
                ws.receive_data(data)
            except RemoteProtocolError as exc:
                hint = exc.event_hint
                status = hint.status_code if isinstance(hint, RejectConnection) else 400
                headers = list(hint.headers) if isinstance(hint, RejectConnection) else []
                await self._reject(ws, stream, status, f"bad WebSocket handshake: {exc}\n", headers)
                return None
            for event in ws.events():
                if isinstance(event, Request):
                    if event.target.partition("?")[0] != self.Path:
                        await self._reject(ws, stream, 404, f"WebSockets are at {self.Path}\n")
                        return None
                    await stream.send(ws.send(AcceptConnection()))
                    return event.target

    async def _reject(
        self,
        ws: WSConnection,
        stream: ByteStream,
        status: int,
        text: str,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self._n_rejected += 1
        body = text.encode("utf-8")
        fields = [
            *(headers or []),
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),
        ]
        try:
            data = ws.send(RejectConnection(status_code=status, headers=fields, has_body=True))
            data += ws.send(RejectData(data=body))
        except LocalProtocolError:
            # The request was too broken for h11 to answer in its own state: answer by hand.
            head = f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nconnection: close\r\n"
            data = f"{head}content-length: {len(body)}\r\n\r\n".encode("ascii") + body
        await stream.send(data)


class _Partial:
    """The message a connection is receiving: its fragments, and the bytes they took."""

    __slots__ = ("blobs", "size", "taken", "texts")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.blobs: list[bytes] = []
        self.size = self.taken = 0

    def take(self) -> str | bytes:
        """The whole message; the next one starts empty (``taken`` is the caller's)."""
        message: str | bytes = "".join(self.texts) if self.texts else b"".join(self.blobs)
        self.texts, self.blobs, self.size = [], [], 0
        return message


async def _close(ws: WSConnection, stream: ByteStream, code: int, reason: str) -> None:
    """Send a close frame, then read (and discard) until the client's close comes back, for a
    moment at most. Dropping the socket at once would reset it while the client's data is still
    unread, and the client could lose the close frame, with the code that tells it why."""
    await stream.send(ws.send(CloseConnection(code=code, reason=reason)))
    discarded = 0
    with anyio.move_on_after(_CLOSE_WAIT):
        while ws.state is not ConnectionState.CLOSED and discarded < _CLOSE_DISCARD:
            data = await receive_or_none(stream)
            discarded += len(data or b"")
            ws.receive_data(data)
            for _ in ws.events():
                pass
            if data is None:
                return
