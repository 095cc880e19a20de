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
4. Backpressure: once the messages waiting for the pipeline add up to ``buffer_size`` bytes, a
   connection with a complete message waits for room before it reads on, so a client that
   outpaces the pipeline is slowed down by TCP, never dropped. Pings behind the waiting message
   wait too. The bound is in bytes, and generous, because a client that confirms its messages
   with a ping (``HTTPClientWebSocketSink``) in the *same run* waits for the pong while the
   executor flushes, i.e. while this source's pipeline is not pumped: everything one flush
   sends must fit in the buffer, or that flush times out and raises.
5. WebSocket has no acknowledgements: once a message was read from the socket, a stop or a crash
   before the pipeline took it loses it. A client that needs more (``HTTPClientWebSocketSink``)
   confirms with a ping after its messages, which proves they reached this server's queue.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import attrs
from anyio.abc import SocketStream
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
from pumpcore.config import in_range, positive
from pumpcore.lowlevel import Rejected

from ._client import URL_PATH
from ._listen import ServerSource, peer_of, receive_or_none

if TYPE_CHECKING:
    from pumpcore import Pipeline

# How long a closing server waits for the client's close frame (RFC 6455 section 7.1.1).
_CLOSE_WAIT = 1.0


@attrs.frozen
class WebSocketServerStatistics:
    """What a ``WebSocketSource`` did so far.

    Attributes:
        connections: WebSocket connections opened (handshakes accepted).
        rejected: handshakes refused (bad request, wrong path, too slow).
        messages: messages queued as events.
        too_large: connections closed with 1009 for a message over ``max_message_size``.
        protocol_errors: connections closed because a frame could not be parsed.
        errors: connections ended by an unexpected error (logged).
    """

    connections: int
    rejected: int
    messages: int
    too_large: int
    protocol_errors: int
    errors: int


class WebSocketSource(ServerSource):
    """Serves WebSocket connections on ``path`` and emits each message a client sends
    (BSPump's ``WebSocketSource``; see the module's rules).

    The event's context holds ``path`` (the request target, query included) and ``peer`` (the
    client's ``(host, port)``). Runs under every executor: it is written on anyio, and the sync
    and threads executors run it on their bridge's loop thread.

    Config:
        listen: where to listen, ``"host port"``; port 0 picks a free one (see ``address``).
        buffer_size: how many bytes of messages may wait for the pipeline before connections
            pause (rule 4).
        path: the path clients connect to.
        max_message_size: the largest message accepted, in bytes; beyond, the connection is
            closed with 1009.
        handshake_timeout: seconds a client has to complete the opening handshake.

    Example:
        >>> WebSocketSource(config={"listen": "0.0.0.0 8080"}).Path
        '/bspump/ws'
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "buffer_size": 16777216,
        "path": "/bspump/ws",
        "max_message_size": 1048576,
        "handshake_timeout": 10.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        # Both are held in memory: a message whole, the buffer per connection.
        "buffer_size": in_range(1, 2**30),
        "path": URL_PATH,
        "max_message_size": in_range(1, 2**30),
        "handshake_timeout": positive(),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(pipeline, id, config)
        self._n_connections = self._n_rejected = self._n_messages = 0
        self._n_too_large = self._n_protocol_errors = 0
        self._sizes: deque[int] = deque()  # of the queued messages, in queue order
        self._buffered = 0
        self._room: anyio.Event | None = None

    def apply_config(self) -> None:
        """Check the configuration."""
        super().apply_config()
        config = self.Config
        #: The path clients connect to.
        self.Path = str(config["path"])
        self._max_message = int(config["max_message_size"])
        self._handshake_timeout = float(config["handshake_timeout"])
        self._buffer_size = int(config["buffer_size"])

    @property
    def url(self) -> str | None:
        """``ws://host:port/path`` once listening; None before."""
        if self.address is None:
            return None
        host, port = self.address
        host = f"[{host}]" if ":" in host else host
        return f"ws://{host}:{port}{self.Path}"

    def statistics(self) -> WebSocketServerStatistics:
        """A frozen snapshot of the counters."""
        return WebSocketServerStatistics(
            self._n_connections,
            self._n_rejected,
            self._n_messages,
            self._n_too_large,
            self._n_protocol_errors,
            self._n_errors,
        )

    async def read(self, max_items: int) -> Sequence[Received | Rejected] | None:
        """Queued messages; taking them makes room for paused connections (rule 4)."""
        items = await super().read(max_items)
        if items:
            for _ in items:
                self._buffered -= self._sizes.popleft()
            if self._room is not None and self._buffered < self._buffer_size:
                self._room.set()
                self._room = None
        return items

    async def _enqueue(self, message: str | bytes, size: int, context: Context) -> None:
        while self._buffered >= self._buffer_size:
            if self._room is None:
                self._room = anyio.Event()
            await self._room.wait()
        self.queue().send_nowait(Received(message, context=context))
        self._sizes.append(size)
        self._buffered += size
        self._n_messages += 1

    def _reject_input(self, reason: str, context: Context) -> None:
        """Queue bad input for the pipeline (rule 3); it holds no bytes, so it takes no room."""
        self.queue().send_nowait(Rejected(None, reason, None, dict(context)))
        self._sizes.append(0)

    # ------------------------------------------------------------ one connection

    async def handle_connection(self, stream: SocketStream) -> None:
        """Run the handshake, then receive messages until the connection closes."""
        ws = WSConnection(ConnectionType.SERVER)
        target: str | None = None
        with anyio.move_on_after(self._handshake_timeout):
            target = await self._handshake(ws, stream)
        if target is None:
            if ws.state is ConnectionState.CONNECTING:
                self._n_rejected += 1  # too slow, or gone before finishing
            return
        self._n_connections += 1
        context: Context = {"path": target, "peer": peer_of(stream)}
        texts: list[str] = []
        blobs: list[bytes] = []
        size = 0
        while True:
            data = await receive_or_none(stream)
            ws.receive_data(data)  # None: the peer is gone (wsproto reports 1006)
            for event in ws.events():
                if isinstance(event, TextMessage | BytesMessage):
                    if isinstance(event, TextMessage):
                        texts.append(event.data)
                        size += len(event.data.encode("utf-8"))
                    else:
                        blobs.append(bytes(event.data))
                        size += len(event.data)
                    if size > self._max_message:
                        self._n_too_large += 1
                        reason = f"message over {self._max_message} bytes"
                        self._reject_input(f"a {reason}", context)
                        await _close(ws, stream, CloseReason.MESSAGE_TOO_BIG, reason)
                        return
                    if event.message_finished:
                        message: str | bytes = "".join(texts) if texts else b"".join(blobs)
                        await self._enqueue(message, size, dict(context))
                        texts, blobs, size = [], [], 0
                elif isinstance(event, Ping):
                    await stream.send(ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if ws.state is ConnectionState.REMOTE_CLOSING:
                        await stream.send(ws.send(event.response()))
                    elif ws.state is ConnectionState.OPEN:
                        # wsproto reports a frame it could not parse as a close it received.
                        self._n_protocol_errors += 1
                        why = f"a frame that does not parse ({event.code}): {event.reason or ''}"
                        self._reject_input(why.rstrip(": "), context)
                        await _close(ws, stream, event.code, event.reason or "")
                    return
            if data is None:
                return

    async def _handshake(self, ws: WSConnection, stream: SocketStream) -> str | None:
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
        stream: SocketStream,
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


async def _close(ws: WSConnection, stream: SocketStream, code: int, reason: str) -> None:
    """Send a close frame, then read (and discard) until the client's close comes back, for a
    moment at most. Dropping the socket at once would reset it while the client's data is still
    unread, and the client could lose the close frame, with the code that tells it why."""
    await stream.send(ws.send(CloseConnection(code=code, reason=reason)))
    with anyio.move_on_after(_CLOSE_WAIT):
        while ws.state is not ConnectionState.CLOSED:
            data = await receive_or_none(stream)
            ws.receive_data(data)
            for _ in ws.events():
                pass
            if data is None:
                return
