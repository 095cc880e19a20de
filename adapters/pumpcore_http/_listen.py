"""What the server sources (``HTTPServerSource``, ``WebSocketSource``) share: the ``address``,
the listener, the accept loop, the resource limits and the queue between connections and
``read``.

Rules:
1. ``open`` binds (port 0 picks a free port; the ``address`` property tells which), so a bind
   error fails the run at start with the address in the message, and a client in the same run
   can learn the port before anything is sent. ``serve`` accepts; ``aclose`` unbinds. Sockets
   are the socket adapter's (``pumpcore_socket/_rawsock.py``): a connection is read only when
   its handler asks, on every backend (anyio's asyncio streams read ahead without bound, so a
   stalled handler let a client push hundreds of MiB into the server).
2. Connections hand what they receive to a queue that ``read`` drains, each item with its size
   in bytes, taken from the source's budget (``max_buffered_bytes``) and given back when
   ``read`` hands it over. What a full budget means is the protocol's choice: the webhook
   answers 503 at once (as for a full ``queue_max_size``), the WebSocket server stops reading
   the connection (TCP pushes back on the client). The connection cap and the idle timeout are
   ``pumpcore_socket/_limits.py``'s (``max_connections``, ``idle_timeout``); each refusal and
   timeout is counted.
3. A connection's failure ends that connection only. A peer that goes away is routine (logged at
   debug); anything else is logged and counted, and the server goes on accepting. A failing
   ``accept`` (out of file descriptors) is retried after a pause instead of ending ``serve``.
4. Everything here runs on one event loop: the executor's (asyncio, trio) or the bridge's loop
   thread (sync, threads). ``acknowledge`` runs on that same loop, so connections and
   acknowledgements share anyio primitives without locks. The one thing read across threads
   (sync, threads) is the pipeline's readiness, in ``accepting``: a flag the core sets on the
   executor's thread, read without a lock; a stale answer means one request refused or queued
   a moment too early or late, which the queue's bound and the 503 path already cover.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
from anyio.abc import ByteStream, Listener, SocketAttribute
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from pumpcore_socket._address import Address
from pumpcore_socket._limits import (
    BUDGET_DEFAULTS,
    BUDGET_RULES,
    CONNECTION_DEFAULTS,
    CONNECTION_RULES,
    Budget,
    ConnectionSlots,
)
from pumpcore_socket._rawsock import SocketListener, bind_stream
from pumpcore_socket._tls import TLS_DEFAULTS, TLS_RULES, check_tls_keys, load_tls, tls_listener
from pumpcore_socket._warnings import Warnings

from pumpcore import AsyncSource, ConfigError, ConfigRule, Received, config_value_repr
from pumpcore.lowlevel import Rejected

if TYPE_CHECKING:
    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.http")

# How long one ``read`` waits for the first event. Short, because a stop waits for a read in
# progress, and the sync executor's thread is held while it waits.
READ_WAIT = 0.05
# The most bytes asked of a socket at once.
RECEIVE_SIZE = 65536
# Connections the kernel queues before ``accept``.
BACKLOG = 128

# A connection ending under us: the peer reset it, closed it or vanished.
GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


def parse_listen(owner: str, value: Any) -> tuple[str | None, int]:
    """``(host, port)`` from ``"host port"`` (BSPump's ``web_listen``), ``"host:port"``,
    ``"[::1]:8080"`` or a bare ``"port"``; host None means every interface.

    Raises:
        ConfigError: the text is not an address, or the port is not in 0-65535.
    """
    text = str(value).strip()
    if " " in text:
        host, port = text.rsplit(None, 1)
    elif text.startswith("[") and "]:" in text:
        host, _, port = text[1:].partition("]:")
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = "", text
    host = host.strip().strip("[]")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(
            f"{owner}: config key 'address' expects 'host port' (e.g. '0.0.0.0 8080'), got "
            f"{config_value_repr('address', value)}"
        )
    return (None if host in ("", "*") else host), int(port)


async def receive_or_none(stream: ByteStream) -> bytes | None:
    """The next bytes from the peer; None once it closed its side."""
    try:
        return await stream.receive(RECEIVE_SIZE)
    except anyio.EndOfStream:
        return None


def peer_of(stream: ByteStream) -> tuple[str, int]:
    """The remote ``(host, port)`` of a connection (``("", 0)`` when the socket cannot tell)."""
    address = stream.extra(SocketAttribute.remote_address, None)
    if isinstance(address, tuple):
        return str(address[0]), int(address[1])
    return (str(address or ""), 0)


class ServerSource(AsyncSource):
    """Base of the server sources: binds in ``open``, accepts in ``serve``, hands each
    connection to ``handle_connection`` (which subclasses write) and drains the queue in
    ``read``.

    A server serves many clients: an event of theirs that fails in a processor is that input's
    failure (``isolate_failures``): counted as a warning and dead-lettered, never the end of the
    service. Input that cannot become an event at all goes into the queue as a ``Rejected``.

    Config:
        address: where to listen: ``"host port"`` (BSPump's ``web_listen`` form; ``"host:port"``
            works too); port 0 picks a free port, the ``address`` property tells which. The
            default listens on the loopback interface only; ``"0.0.0.0 8080"`` listens on every
            interface.
        max_connections, idle_timeout, max_buffered_bytes: the limits (module rule 2).
        cert, key, handshake_timeout: serve HTTPS (WSS) with this certificate chain and key
            (PEM files), the stream server's way (``pumpcore_socket/_tls.py``).
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "address": "127.0.0.1 8080",
        **CONNECTION_DEFAULTS,
        **BUDGET_DEFAULTS,
        **TLS_DEFAULTS,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        **CONNECTION_RULES,
        **BUDGET_RULES,
        **TLS_RULES,
    }

    isolate_failures = True

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(pipeline, id, config)
        self._listeners: list[Listener[Any]] = []
        self._tls = False
        self._send: MemoryObjectSendStream[Received | Rejected] | None = None
        self._recv: MemoryObjectReceiveStream[Received | Rejected] | None = None
        self._sizes: deque[int] = deque()  # bytes of each queued item, in queue order
        #: Bytes of the items in the queue (the rest of the budget is held by connections).
        self.queued_bytes = 0
        self._addresses: tuple[tuple[str, int], ...] = ()
        self._n_errors = self._n_timeouts = self._n_accept_errors = self._n_handshake_failures = 0
        self.slots = ConnectionSlots(0)
        self.budget = Budget(int(self.Config["max_buffered_bytes"]))
        self._warnings = Warnings(log, self.locate_address)

    def apply_config(self) -> None:
        """Check ``address``."""
        super().apply_config()
        owner = f"{type(self).__name__} {self.Id!r}"
        #: ``(host, port)`` to bind; host None means every interface.
        self.Listen = parse_listen(owner, self.Config["address"])
        check_tls_keys(owner, self.Config)

    @property
    def address(self) -> tuple[str, int] | None:
        """The bound ``(host, port)`` once ``open`` ran (the real port when ``address`` asked
        for 0); None before. Safe to read from any thread."""
        return self._addresses[0] if self._addresses else None

    def url_of(self, scheme: str, path: str) -> str | None:
        """``scheme://host:port/path`` once listening (``scheme + "s"`` with TLS); None
        before."""
        if self.address is None:
            return None
        host, port = self.address
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}{'s' if self._tls else ''}://{host}:{port}{path}"

    @property
    def addresses(self) -> tuple[tuple[str, int], ...]:
        """Every bound ``(host, port)``: listening on every interface binds IPv4 and IPv6."""
        return self._addresses

    # ------------------------------------------------------------ the AsyncSource protocol

    async def open(self) -> None:
        """Bind the listening socket(s) and create the queue.

        Raises:
            OSError: the address cannot be bound (in use, not local), naming it.
        """
        host, port = self.Listen
        owner = f"{type(self).__name__} {self.Id!r}"
        context = await load_tls(owner, self.Config)
        try:
            socks = await bind_stream(Address(host, port), BACKLOG)
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"{type(self).__name__} {self.Id!r}: cannot listen on "
                f"{host or '*'} {port}: {exc.strerror or exc}",
            ) from exc
        self._listeners = [SocketListener(sock, self._accept_failed) for sock in socks]
        self._tls = context is not None
        if context is not None:
            timeout = float(self.Config["handshake_timeout"])
            self._listeners = [
                tls_listener(listener, context, timeout, self._handshake_failed)
                for listener in self._listeners
            ]
        bound = []
        for sock in socks:
            local = sock.getsockname()
            bound.append((str(local[0]), int(local[1])))
        self._addresses = tuple(bound)
        self._send, self._recv = anyio.create_memory_object_stream[Received | Rejected](
            self.queue_capacity()
        )
        self._sizes.clear()
        self.queued_bytes = 0
        self.slots = ConnectionSlots(int(self.Config["max_connections"]))
        self.budget = Budget(int(self.Config["max_buffered_bytes"]))

    async def serve(self) -> None:
        """Accept connections on every listener until cancelled (rule 3)."""
        async with anyio.create_task_group() as connections:
            for listener in self._listeners:
                connections.start_soon(listener.serve, self._connection, connections)

    async def read(self, max_items: int) -> Sequence[Received | Rejected] | None:
        """What connections queued: waits a moment for the first, then takes what is there."""
        recv = self._recv
        if recv is None:
            return []
        items: list[Received | Rejected] = []
        try:
            with anyio.move_on_after(READ_WAIT):
                items.append(await recv.receive())
            while len(items) < max_items:
                items.append(recv.receive_nowait())
        except anyio.WouldBlock:
            pass
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return items or None
        if items:
            sizes = self._sizes
            size = sum(sizes.popleft() for _ in items)
            self.queued_bytes -= size
            self.budget.give_back(size)
        return items

    async def aclose(self) -> None:
        """Unbind and drop the queue (what it still holds was never taken by the pipeline)."""
        for listener in self._listeners:
            await listener.aclose()
        self._listeners = []
        for stream in (self._send, self._recv):
            if stream is not None:
                await stream.aclose()
        self._send = self._recv = None
        self._warnings.close()

    # ------------------------------------------------------------ for subclasses

    def queue_capacity(self) -> float:
        """How many events the queue holds before ``send_nowait`` raises ``WouldBlock``
        (unbounded by default: a subclass that bounds by something else says so)."""
        return math.inf

    def queue_nowait(self, item: Received | Rejected, size: int) -> None:
        """Queue ``item``, whose ``size`` bytes were taken from the budget (rule 2).

        Raises:
            anyio.WouldBlock: the queue is full (nothing was queued).
        """
        if self._send is None:
            raise RuntimeError(f"{type(self).__name__} {self.Id!r} is not open")
        self._send.send_nowait(item)
        self._sizes.append(size)
        self.queued_bytes += size

    def accepting(self) -> bool:
        """True while the pipeline takes events (not throttled, not stopped by an error) and
        this source's positions can still be acknowledged (not poisoned by a hard failure)."""
        pipeline = self.Pipeline
        return pipeline is not None and pipeline.is_ready() and not self.poisoned

    async def handle_connection(self, stream: ByteStream) -> None:
        """Speak the protocol on one accepted connection; return to close it."""
        raise NotImplementedError

    # ------------------------------------------------------------ internals

    def _handshake_failed(self, exc: BaseException) -> None:
        self._n_handshake_failures += 1
        self._warnings.warn("TLS handshake failed", "%r", exc)

    def _accept_failed(self, exc: OSError) -> None:
        self._n_accept_errors += 1
        self._warnings.warn("accept failed", "%r; retrying", exc)

    async def _connection(self, stream: ByteStream) -> None:
        if not self.slots.enter():
            await anyio.aclose_forcefully(stream)
            return
        try:
            await self.handle_connection(stream)
        except GONE as exc:
            log.debug("%s: connection ended: %r", self.locate_address(), exc)
        except Exception as exc:
            self._n_errors += 1
            self._warnings.warn("connection failed", "%r", exc, level=logging.ERROR, exc_info=exc)
        finally:
            self.slots.leave()
            await anyio.aclose_forcefully(stream)
