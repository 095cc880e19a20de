"""StreamServerSource (and TCPSource): a TCP, TLS or Unix stream server whose lines are events.

Rules:
1. ``open`` binds every configured address, so a bind error fails the run at start with the
   address in the message, and port 0 is resolved before anything is read: ``addresses`` then
   tells where the server listens. ``serve`` accepts connections; ``aclose`` unbinds (and
   removes the Unix socket files it created).
2. Each connection runs in its own task and splits what it receives into lines (``_lines.py``);
   each line goes into a bounded queue that ``read`` drains (``_queued.py``). A full queue stops
   the connection from reading its socket: TCP pushes back on the client. (Connections are
   read through ``SocketByteStream``, which reads only when asked on every backend; anyio's
   own asyncio streams read ahead without bound: see ``_rawsock.py``.)
3. Bad input ends at most that input, never the server. A line that cannot become an event is
   handed to the pipeline as a ``Rejected`` (counted as ``event.rejected``, dead-lettered) and
   counted here by kind; the connection stays up and its next lines are kept:
   - a line over ``max_line_length`` (``lines_too_long``; none of it is kept, so the rejected
     input carries no bytes);
   - a line that does not decode with ``encoding`` (``lines_undecodable``);
   - a line cut short by a disconnect, no ``\\n`` before the end (``partial_lines``): a
     truncated record is worse than a missing one.
   A malformed line (bad JSON, say) is an event that fails in a processor: being a server, the
   source isolates failures, so it is counted as a warning and dead-lettered whatever the error
   policy says, and the connection goes on. A failing TLS handshake ends that connection and is
   counted (``handshake_failures``).
   Resources are bounded (``_limits.py``): at most ``max_connections`` connections (more are
   closed at once, ``connections_refused``), each closed after ``idle_timeout`` seconds without a
   byte (``timeouts``; its incomplete line is rejected as cut short), and the lines queued hold
   at most ``max_buffered_bytes``.
   A connection that breaks or fails otherwise ends alone (logged); a failing ``accept`` (out
   of file descriptors) is retried after a pause instead of ending ``serve``.
4. No positions: TCP has no replay, so nothing is acknowledged; what the pipeline had not taken
   when the run stops is lost with the connections. Use a broker when that matters.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import anyio.to_thread
import attrs
from anyio.abc import ByteStream, SocketAttribute

from pumpcore import ConfigError, ConfigRule, Context, Received, config_value_repr
from pumpcore.config import in_range, text_codec
from pumpcore.lowlevel import Rejected

from ._address import Address, format_sockaddr, parse_addresses
from ._errors import SocketError
from ._limits import CONNECTION_DEFAULTS, CONNECTION_RULES
from ._lines import LineSplitter
from ._listener import GONE, Bound, StreamListener
from ._queued import QueuedSource
from ._tls import TLS_DEFAULTS, TLS_RULES, check_tls_keys

if TYPE_CHECKING:
    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.socket")

# The most bytes asked of a connection at once: also the most a blocked connection holds as
# lines not yet queued (rule 2).
RECEIVE_SIZE = 65536


@attrs.frozen
class StreamServerStatistics:
    """What a stream server source did so far.

    Attributes:
        connections: connections accepted (after the TLS handshake, with TLS).
        connections_open: connections open now.
        lines: lines queued for the pipeline.
        bytes_received: bytes received on all connections (after TLS decryption).
        lines_too_long: lines rejected for exceeding ``max_line_length``.
        lines_undecodable: lines rejected because they did not decode with ``encoding``.
        partial_lines: incomplete last lines of connections that ended, rejected.
        handshake_failures: TLS handshakes that failed or timed out.
        accept_errors: failed ``accept`` calls (retried).
        connections_refused: connections closed at once, over ``max_connections``.
        connection_errors: connections ended by an unexpected error (logged, rate-limited).
        timeouts: connections closed after ``idle_timeout`` seconds without a byte.
        buffered: lines in the queue between connections and the pipeline now.
        buffered_max: the most lines that queue ever held (at most ``queue_max_size``).
        buffered_bytes: bytes of those lines.
        buffered_bytes_max: the most bytes ever held (at most ``max_buffered_bytes``, or one
            line when that is smaller).
    """

    connections: int
    connections_open: int
    lines: int
    bytes_received: int
    lines_too_long: int
    lines_undecodable: int
    partial_lines: int
    handshake_failures: int
    accept_errors: int
    connections_refused: int
    connection_errors: int
    timeouts: int
    buffered: int
    buffered_max: int
    buffered_bytes: int
    buffered_bytes_max: int


class StreamServerSource(QueuedSource):
    """Listens on TCP, TLS or Unix stream sockets; each line a client sends is an event.

    The source of BSPump's ``EchoPipeline`` (test it with ``socat STDIO TCP:127.0.0.1:8083``).
    Each event's context::

        {"stream_type": "AF_INET",       # AF_INET, AF_INET6 or AF_UNIX
         "stream_dir": "in",
         "stream_peer": "127.0.0.1 53122",  # the client ("" for an unnamed Unix peer)
         "stream_me": "127.0.0.1 8083",     # the listening address that accepted it
         "stream_id": 7}                     # the connection, numbered from 1 per source

    There are no positions (TCP has no replay): nothing is acknowledged, and lines the pipeline
    had not taken when the run stops are lost. See the module rules for what bad input does.

    Config:
        address: where to listen: ``"host port"`` (``"0.0.0.0 8083"``; ``"* 8083"`` for every
            IPv4 and IPv6 interface; port 0 picks a free port) or a Unix socket path; several
            separated by newlines or ``;``.
        backlog: connections the kernel queues before ``accept``.
        max_line_length: the most bytes a line may have before its ``\\n``.
        encoding: decode lines to ``str`` with this codec; ``""`` emits ``bytes``.
        cert, key: PEM files of the server certificate (chain) and its key; setting both
            enables TLS.
        handshake_timeout: seconds a client has to finish the TLS handshake.
        queue_max_size: lines held between connections and the pipeline (backpressure bound).
        max_buffered_bytes: the most bytes those lines may hold.
        max_connections: connections served at once; more are closed at once.
        idle_timeout: seconds a connection may send nothing before it is closed.
        read_size, poll_interval, retry_delay: as for every ``IOSource``.

    Attributes:
        addresses: where the server listens, once opened (``"127.0.0.1 54321"``, a path).

    Example:
        >>> source = StreamServerSource(config={"address": "0.0.0.0 8083"})
        >>> source.Config["max_line_length"]
        65536
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "address": "127.0.0.1 8888",
        "backlog": 128,
        "max_line_length": 65536,
        "encoding": "utf-8",
        **TLS_DEFAULTS,
        **CONNECTION_DEFAULTS,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        **TLS_RULES,
        **CONNECTION_RULES,
        "backlog": in_range(1, 65535),
        # A line is buffered whole before it is cut: 64 MiB is already more than a line.
        "max_line_length": in_range(1, 2**26),
        "encoding": text_codec(allow_empty=True),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.addresses: tuple[str, ...] = ()
        self._listener = StreamListener(self.locate_address, log)
        self._next_id = 0
        self._connections = self._bytes = self._timeouts = 0
        self._too_long = self._undecodable = self._partial = 0
        super().__init__(pipeline, id, config)

    def _address_text(self) -> str:
        """The ``address`` to listen on (``TCPSource`` also reads ``host``/``port``)."""
        return str(self.Config["address"])

    def apply_config(self) -> None:
        """Parse ``address`` and check the other keys.

        Raises:
            ConfigError: a bad address, ``max_line_length`` or ``backlog`` below 1, an unknown
                encoding, only one of ``cert``/``key``, or a ``handshake_timeout`` not above 0.
        """
        super().apply_config()
        config, owner = self.Config, self.owner
        self._parsed: tuple[Address, ...] = parse_addresses(
            owner, "address", self._address_text(), many=True
        )
        check_tls_keys(owner, config)

    def statistics(self) -> StreamServerStatistics:
        """The counters so far (see ``StreamServerStatistics``)."""
        buffered, buffered_max = self._buffered()
        listener = self._listener
        return StreamServerStatistics(
            connections=self._connections,
            connections_open=listener.slots.open,
            lines=self.queued_events,
            bytes_received=self._bytes,
            lines_too_long=self._too_long,
            lines_undecodable=self._undecodable,
            partial_lines=self._partial,
            handshake_failures=listener.handshake_failures,
            accept_errors=listener.accept_errors,
            connections_refused=listener.slots.refused,
            connection_errors=listener.errors,
            timeouts=self._timeouts,
            buffered=buffered,
            buffered_max=buffered_max,
            buffered_bytes=self.budget.held,
            buffered_bytes_max=self.budget.peak,
        )

    # ------------------------------------------------------------ open / serve / close

    async def open(self) -> None:
        """Bind every address (rule 1).

        Raises:
            SocketError: an address could not be bound (in use, not permitted, unknown host).
            ConfigError: the TLS certificate or key could not be loaded.
        """

        def bind_error(address: Address, exc: OSError) -> Exception:
            return SocketError(f"{self.locate_address()}: cannot listen on {str(address)!r}: {exc}")

        config = self.Config
        await self._listener.open(
            self.owner, config, self._parsed, int(config["backlog"]), bind_error
        )
        self.addresses = tuple(bound.me for bound in self._listener.bound)
        self._open_queue()

    async def serve(self) -> None:
        """Accept connections on every listener until cancelled (rules 2 and 3)."""
        await self._listener.serve(self._connection)

    async def aclose(self) -> None:
        """Stop listening, drop what is queued, remove Unix socket files this source made."""
        await self._listener.aclose()
        await self._close_queue()

    # ------------------------------------------------------------ connections

    async def _connection(self, stream: ByteStream, bound: Bound) -> None:
        """Serve one connection until it ends (rule 3; the listener closes it)."""
        self._next_id += 1
        self._connections += 1
        splitter = LineSplitter(int(self.Config["max_line_length"]))
        peer = format_sockaddr(stream.extra(SocketAttribute.remote_address, ""))
        context: Context = {
            "stream_type": bound.family,
            "stream_dir": "in",
            "stream_peer": peer,
            "stream_me": bound.me,
            "stream_id": self._next_id,
        }
        try:
            await self._read_lines(stream, splitter, context)
        except GONE as exc:
            log.debug("%s: connection from %s broke: %r", self.locate_address(), peer, exc)
        # Reached when the connection ended (not when the server was cancelled): rule 3.
        if splitter.pending:
            self._partial += 1
            reason = "a line cut short: the connection ended before its newline"
            pending = splitter.take_pending()
            await self._put(Rejected(pending, reason, None, dict(context)), len(pending))

    async def _read_lines(
        self, stream: ByteStream, splitter: LineSplitter, context: Context
    ) -> None:
        """Queue the connection's lines until the peer closes its side (rules 2 and 3).

        Lines over the limit are rejected as the chunk that completes them arrives, ahead of
        that chunk's good lines (the splitter keeps none of their bytes, nor where they were).
        """
        limit = splitter.max_line_length
        idle = float(self.Config["idle_timeout"])
        encoding = str(self.Config["encoding"])
        while True:
            data = b""
            with anyio.move_on_after(idle):
                try:
                    data = await stream.receive(RECEIVE_SIZE)
                except anyio.EndOfStream:
                    return
            if not data:
                self._timeouts += 1
                return
            self._bytes += len(data)
            before = splitter.too_long
            lines = splitter.feed(data)
            pairs: list[tuple[Received | Rejected, int]] = []
            for _ in range(splitter.too_long - before):
                self._too_long += 1
                reason = f"a line over {limit} bytes"
                pairs.append((Rejected(None, reason, None, dict(context)), 0))
            for line in lines:
                pairs.append(self._item(line, encoding, context))
            if pairs:
                await self._put_all(pairs, sum(size for _, size in pairs))

    def _item(
        self, line: bytes, encoding: str, context: Context
    ) -> tuple[Received | Rejected, int]:
        """A line as the event it becomes (or the bad input it is), with its size."""
        if not encoding:
            return Received(line, None, dict(context)), len(line)
        try:
            event = line.decode(encoding)
        except UnicodeDecodeError as exc:
            self._undecodable += 1
            reason = f"not {encoding}: {exc}"
            return Rejected(line, reason, None, dict(context)), len(line)
        return Received(event, None, dict(context)), len(line)


class TCPSource(StreamServerSource):
    """``StreamServerSource`` configured the way BSPump's older ``bspump.socket.TCPSource`` was:
    ``host`` and ``port`` instead of ``address`` (the seed's ``TCPPipeline``; test it with
    ``socat STDIO TCP:127.0.0.1:8888``). Everything else is the same.

    Config:
        host: the interface to listen on (``"0.0.0.0"``, ``"*"`` for all).
        port: the port (0 picks a free one: see ``addresses``).
        address: when set, used instead of ``host`` and ``port``.

    Example:
        >>> TCPSource(config={"host": "0.0.0.0", "port": 8888})._address_text()
        '0.0.0.0 8888'
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "address": "",
        "host": "127.0.0.1",
        "port": 8888,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {"port": in_range(0, 65535)}

    def _address_text(self) -> str:
        config = self.Config
        if not config["address"]:
            return f"{config['host']} {config['port']}"
        defaults = TCPSource.ConfigDefaults
        if (config["host"], config["port"]) != (defaults["host"], defaults["port"]):
            raise ConfigError(
                f"{self.owner}: give either 'address' or 'host'/'port', not both "
                f"(address {config_value_repr('address', config['address'])}, "
                f"host {config_value_repr('host', config['host'])}, "
                f"port {config_value_repr('port', config['port'])})"
            )
        return str(config["address"])
