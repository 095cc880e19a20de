"""The listener every stream server source is built on (the line server, the webhook, the
WebSocket server): binding, TLS, accepting, the connection cap, and one task per connection.

Rules:
1. ``open`` binds every address (port 0 picks a free port; ``bound`` tells which), so a bind
   error fails the run at start with the address in the message; with ``cert``/``key`` each
   listener serves TLS (``_tls.py``). ``serve`` accepts until cancelled; ``aclose`` unbinds and
   removes the Unix socket files it created.
2. Connections are ``_rawsock.SocketByteStream``s: read only when their handler asks, on every
   backend, so a stalled handler pushes back on its client through TCP.
3. Over ``max_connections`` a connection is closed at once and counted (``_limits.py``).
4. A connection's failure ends that connection only: a peer that goes away is routine (debug
   log); anything else is counted (``errors``) and logged, rate-limited (``_warnings.py``), as
   are failed accepts (retried after a pause) and TLS handshakes.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import anyio
import attrs
from anyio.abc import ByteStream, Listener

from ._address import Address, family_name, format_sockaddr
from ._limits import ConnectionSlots
from ._rawsock import SocketListener, bind_stream, remove_socket_file
from ._tls import load_tls, tls_listener
from ._warnings import Warnings

# A connection ending under us: the peer reset it, closed it or vanished; TLS broke
# (ssl.SSLError is an OSError).
GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


@attrs.frozen
class Bound:
    """One listening socket: where (``"127.0.0.1 54321"`` or a path), the address family's name
    (``AF_INET``, ``AF_INET6``, ``AF_UNIX``) and the socket address (``(host, port, ...)``)."""

    me: str
    family: str
    sockname: Any


Handler = Callable[[ByteStream, Bound], Awaitable[None]]


class StreamListener:
    """Binds, accepts and runs connections for a stream server source (see the module rules).

    Args:
        where: names the source in logs (its ``locate_address``).
        logger: the adapter's logger.
    """

    def __init__(self, where: Callable[[], str], logger: logging.Logger) -> None:
        self._where = where
        self._log = logger
        self.warnings = Warnings(logger, where)
        self.slots = ConnectionSlots(0)
        self.bound: tuple[Bound, ...] = ()
        self.tls = False
        self.accept_errors = self.handshake_failures = self.errors = 0
        self._listeners: list[tuple[Listener[Any], Bound]] = []
        self._unix_paths: list[str] = []

    async def open(
        self,
        owner: str,
        config: Mapping[str, Any],
        addresses: Sequence[Address],
        backlog: int,
        bind_error: Callable[[Address, OSError], Exception],
    ) -> None:
        """Bind ``addresses`` (rule 1).

        Raises:
            ConfigError: the TLS certificate or key could not be loaded.
            Exception: what ``bind_error`` makes of an address that could not be bound.
        """
        context: ssl.SSLContext | None = await load_tls(owner, config)
        listeners: list[tuple[Listener[Any], Bound]] = []
        try:
            for address in addresses:
                try:
                    socks = await bind_stream(address, backlog)
                except OSError as exc:
                    raise bind_error(address, exc) from exc
                if address.path is not None:
                    self._unix_paths.append(address.path)
                for sock in socks:
                    name = sock.getsockname()
                    bound = Bound(
                        address.path or format_sockaddr(name), family_name(sock.family), name
                    )
                    listener: Listener[Any] = SocketListener(sock, self._accept_failed)
                    if context is not None:
                        timeout = float(config["handshake_timeout"])
                        listener = tls_listener(listener, context, timeout, self._handshake_failed)
                    listeners.append((listener, bound))
        except BaseException:
            with anyio.CancelScope(shield=True):
                for listener, _ in listeners:
                    await listener.aclose()
                self._remove_unix_files()
            raise
        self._listeners = listeners
        self.bound = tuple(bound for _, bound in listeners)
        self.tls = context is not None
        self.slots = ConnectionSlots(int(config["max_connections"]))

    async def serve(self, handler: Handler) -> None:
        """Accept connections on every listener until cancelled, each served by ``handler``."""
        async with anyio.create_task_group() as tg:
            for listener, bound in self._listeners:
                tg.start_soon(listener.serve, self._connection(handler, bound), tg)

    async def aclose(self) -> None:
        """Stop listening; remove the Unix socket files this listener made; sum up warnings."""
        listeners, self._listeners = self._listeners, []
        for listener, bound in listeners:
            try:
                await listener.aclose()
            except Exception as exc:  # closing must go on with the others
                self._log.warning(
                    "%s: closing the listener on %r: %r", self._where(), bound.me, exc
                )
        self._remove_unix_files()
        self.warnings.close()

    def _remove_unix_files(self) -> None:
        for path in self._unix_paths:
            remove_socket_file(path)
        self._unix_paths = []

    def _accept_failed(self, exc: OSError) -> None:
        self.accept_errors += 1
        self.warnings.warn("accept failed", "%r; retrying", exc)

    def _handshake_failed(self, exc: BaseException) -> None:
        self.handshake_failures += 1
        self.warnings.warn("TLS handshake failed", "%r", exc)

    def _connection(
        self, handler: Handler, bound: Bound
    ) -> Callable[[ByteStream], Awaitable[None]]:
        async def connection(stream: ByteStream) -> None:
            if not self.slots.enter():
                await anyio.aclose_forcefully(stream)
                return
            try:
                await handler(stream, bound)
            except GONE as exc:
                self._log.debug("%s: connection ended: %r", self._where(), exc)
            except Exception as exc:  # a bug must not take the other connections down
                self.errors += 1
                self.warnings.warn(
                    "connection failed", "%r", exc, level=logging.ERROR, exc_info=exc
                )
            finally:
                self.slots.leave()
                await anyio.aclose_forcefully(stream)

        return connection
