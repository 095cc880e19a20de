"""What the server sources (``HTTPServerSource``, ``WebSocketSource``) share with the socket
adapter's line server: they are built on the same base, ``pumpcore_socket``'s ``QueuedSource``
(the bounded queue and byte budget between connections and ``read``) and ``StreamListener``
(binding, TLS, accepting, the connection cap, one task per connection), with the same keys:
``address``, ``queue_max_size``, ``max_buffered_bytes``, ``max_connections``, ``idle_timeout``,
``cert``/``key``/``handshake_timeout``.

Rules:
1. ``open`` binds (port 0 picks a free port; the ``address`` property tells which), so a bind
   error fails the run at start with the address in the message, and a client in the same run
   can learn the port before anything is sent. ``serve`` accepts; ``aclose`` unbinds. A
   connection is read only when its handler asks, on every backend (anyio's asyncio streams
   read ahead without bound, so a stalled handler let a client push hundreds of MiB into the
   server).
2. Connections hand what they receive to the queue ``read`` drains, each item with its size in
   bytes, taken from the budget (``max_buffered_bytes``) and given back when ``read`` hands it
   over. What a full queue or budget means is the protocol's choice: the webhook answers 503 at
   once, the WebSocket server stops reading the connection (TCP pushes back on the client).
   Each refusal and timeout is counted.
3. A connection's failure ends that connection only (``pumpcore_socket/_listener.py``).
4. Everything here runs on one event loop: the executor's (asyncio, trio) or the bridge's loop
   thread (sync, threads). ``acknowledge`` runs on that same loop, so connections and
   acknowledgements share anyio primitives without locks. The one thing read across threads
   (sync, threads) is the pipeline's readiness, in ``accepting``: a flag the core sets on the
   executor's thread, read without a lock; a stale answer means one request refused or queued
   a moment too early or late, which the queue's bound and the 503 path already cover.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
from anyio.abc import ByteStream, SocketAttribute
from pumpcore_socket._address import Address
from pumpcore_socket._limits import CONNECTION_DEFAULTS, CONNECTION_RULES
from pumpcore_socket._listener import GONE, Bound, StreamListener
from pumpcore_socket._queued import QueuedSource
from pumpcore_socket._tls import TLS_DEFAULTS, TLS_RULES, check_tls_keys

from pumpcore import ConfigError, ConfigRule, config_value_repr

if TYPE_CHECKING:
    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.http")

# The most bytes asked of a socket at once.
RECEIVE_SIZE = 65536
# Connections the kernel queues before ``accept``.
BACKLOG = 128

__all__ = ("GONE", "RECEIVE_SIZE", "ServerSource", "parse_listen", "peer_of", "receive_or_none")


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


class ServerSource(QueuedSource):
    """Base of the HTTP server sources: binds in ``open``, accepts in ``serve``, hands each
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
        queue_max_size, max_buffered_bytes, max_connections, idle_timeout: the limits (rule 2).
        cert, key, handshake_timeout: serve HTTPS (WSS) with this certificate chain and key
            (PEM files), the line server's way (``pumpcore_socket/_tls.py``).
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "address": "127.0.0.1 8080",
        **CONNECTION_DEFAULTS,
        **TLS_DEFAULTS,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {**CONNECTION_RULES, **TLS_RULES}

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.listener = StreamListener(self.locate_address, log)
        self._n_timeouts = 0
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        """Check ``address``, ``cert`` and ``key``."""
        super().apply_config()
        #: ``(host, port)`` to bind; host None means every interface.
        self.Listen = parse_listen(self.owner, self.Config["address"])
        check_tls_keys(self.owner, self.Config)

    @property
    def address(self) -> tuple[str, int] | None:
        """The bound ``(host, port)`` once ``open`` ran (the real port when ``address`` asked
        for 0); None before. Safe to read from any thread."""
        return self.addresses[0] if self.addresses else None

    @property
    def addresses(self) -> tuple[tuple[str, int], ...]:
        """Every bound ``(host, port)``: listening on every interface binds IPv4 and IPv6."""
        return tuple((str(b.sockname[0]), int(b.sockname[1])) for b in self.listener.bound)

    def url_of(self, scheme: str, path: str) -> str | None:
        """``scheme://host:port/path`` once listening (``scheme + "s"`` with TLS); None
        before."""
        if self.address is None:
            return None
        host, port = self.address
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}{'s' if self.listener.tls else ''}://{host}:{port}{path}"

    # ------------------------------------------------------------ the AsyncSource protocol

    async def open(self) -> None:
        """Bind the listening socket(s) and create the queue.

        Raises:
            OSError: the address cannot be bound (in use, not local), naming it.
        """
        host, port = self.Listen

        def bind_error(address: Address, exc: OSError) -> Exception:
            return OSError(
                exc.errno,
                f"{self.owner}: cannot listen on {host or '*'} {port}: {exc.strerror or exc}",
            )

        await self.listener.open(
            self.owner, self.Config, [Address(host, port)], BACKLOG, bind_error
        )
        self._open_queue()

    async def serve(self) -> None:
        """Accept connections on every listener until cancelled (rule 3)."""
        await self.listener.serve(self._connection)

    async def aclose(self) -> None:
        """Unbind and drop the queue (what it still holds was never taken by the pipeline)."""
        await self.listener.aclose()
        await self._close_queue()

    # ------------------------------------------------------------ for subclasses

    def accepting(self) -> bool:
        """True while the pipeline takes events (not throttled, not stopped by an error) and
        this source's positions can still be acknowledged (not poisoned by a hard failure)."""
        pipeline = self.Pipeline
        return pipeline is not None and pipeline.is_ready() and not self.poisoned

    async def handle_connection(self, stream: ByteStream) -> None:
        """Speak the protocol on one accepted connection; return to close it."""
        raise NotImplementedError

    async def _connection(self, stream: ByteStream, bound: Bound) -> None:
        await self.handle_connection(stream)
