"""NATSConnection (where the servers are, how to reconnect) and the client thread: an asyncio
loop of our own that nats-py runs on.

nats-py is written on asyncio, and the trio executor has no asyncio loop, nor has the sync
executor any loop: so the NATS source and sink are ``BlockingSource``/``BlockingSink``s that
each own a thread running an asyncio loop with one NATS connection on it (``Client``), under
every executor alike. Rules:

1. Only the client's thread touches nats-py objects; other threads hand it coroutines
   (``Client.call``) and wait for the outcome.
2. Reconnecting is nats-py's: it retries every ``reconnect_time_wait`` seconds, forever
   (``max_reconnect_attempts = -1``), buffering what is published meanwhile; each outage is
   logged once and counted.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit, urlunsplit

import nats
from nats.aio.client import Client as NATS

from pumpcore import ConfigError, ConfigRule, Configurable
from pumpcore.config import in_range, positive

log = logging.getLogger("pumpcore.nats")

T = TypeVar("T")


def redact_url(url: str) -> str:
    """``url`` fit for logs and reprs: the password (or token) replaced by ``***``."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    user, _, host = parts.netloc.rpartition("@")
    shown = f"{user.partition(':')[0]}:***" if ":" in user else "***"
    return urlunsplit((parts.scheme, f"{shown}@{host}", parts.path, parts.query, ""))


class NATSConnection(Configurable):
    """Where the NATS servers are and how to reach them; sources and sinks given the same
    connection each open their own client from it (rule 1).

    Config:
        servers: comma-separated URLs (``nats://[user:password@]host:port``); passwords and
            tokens in them are masked in every log line, error and repr.
        user, password, token: credentials, when not in the URLs (masked when secret).
        name: the client's name, shown in the server's monitoring.
        connect_timeout: seconds a connection attempt may take; ``open`` fails when the first
            one does not succeed within it.
        reconnect_time_wait: seconds between reconnection attempts.
        pending_size: bytes published while disconnected that the client buffers.

    Example:
        >>> NATSConnection(config={"servers": "nats://app:s3cret@127.0.0.1:4222"})
        NATSConnection('nats://app:***@127.0.0.1:4222')
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "servers": "nats://127.0.0.1:4222",
        "user": "",
        "password": "",
        "token": "",
        "name": "pumpcore",
        "connect_timeout": 5.0,
        "reconnect_time_wait": 0.5,
        "pending_size": 8 * 1024 * 1024,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "connect_timeout": positive() & in_range(0, 3600),
        "reconnect_time_wait": positive() & in_range(0, 3600),
        "pending_size": in_range(1024, 2**31),
    }

    def apply_config(self) -> None:
        config = self.Config
        #: The servers' URLs (never log them: use ``redacted``).
        self.Servers = [s.strip() for s in str(config["servers"]).split(",") if s.strip()]
        #: The servers without passwords.
        self.redacted = ", ".join(redact_url(s) for s in self.Servers)
        for server in self.Servers:
            parts = urlsplit(server)
            if parts.scheme not in ("nats", "tls", "ws", "wss") or not parts.hostname:
                raise ConfigError(
                    f"{type(self).__name__} {self.Id!r}: config key 'servers' must hold "
                    f"nats://host:port URLs, got {redact_url(server)!r}"
                )
        if not self.Servers:
            raise ConfigError(f"{type(self).__name__} {self.Id!r}: config key 'servers' is empty")
        self.connect_timeout = float(config["connect_timeout"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.redacted!r})"

    def client(self, owner: str) -> Client:
        """A new client (not started) for ``owner`` (named in logs)."""
        return Client(self, owner)

    async def _connect(self, client: Client) -> NATS:
        config = self.Config

        async def disconnected() -> None:
            if client.closing:
                return
            client.disconnects += 1
            log.warning("%s: disconnected from %s; reconnecting", client.owner, self.redacted)

        async def reconnected() -> None:
            log.info("%s: connected again", client.owner)

        async def error(exc: Exception) -> None:
            log.debug("%s: %r", client.owner, exc)

        return await nats.connect(
            servers=self.Servers,
            name=str(config["name"]),
            user=str(config["user"]) or None,
            password=str(config["password"]) or None,
            token=str(config["token"]) or None,
            connect_timeout=int(max(1, round(self.connect_timeout))),
            reconnect_time_wait=float(config["reconnect_time_wait"]),
            max_reconnect_attempts=-1,
            allow_reconnect=True,
            pending_size=int(config["pending_size"]),
            disconnected_cb=disconnected,
            reconnected_cb=reconnected,
            error_cb=error,
        )


class Client:
    """One NATS connection on an asyncio loop in a thread of its own (the module's rules)."""

    def __init__(self, connection: NATSConnection, owner: str) -> None:
        self.connection = connection
        self.owner = owner
        #: Disconnections so far (each followed by nats-py's reconnection attempts).
        self.disconnects = 0
        self.nc: NATS | None = None
        self.closing = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"pumpcore-nats {owner}", daemon=True
        )

    def start(self) -> None:
        """Start the thread and connect.

        Raises:
            ConnectionError: no server answered within ``connect_timeout``.
        """
        self._thread.start()
        try:
            self.nc = self.call(
                lambda: self.connection._connect(self), self.connection.connect_timeout + 0.5
            )
        except Exception as exc:
            self.close()
            raise ConnectionError(
                f"{self.owner}: cannot connect to {self.connection.redacted}: {exc!r}"
            ) from exc

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float | None = None) -> T:
        """Run the coroutine ``fn()`` on the client's loop and return its result (rule 1)."""

        async def run() -> T:
            return await fn()

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        """Drain nothing more: close the connection, stop the loop and end the thread."""
        nc, self.nc = self.nc, None
        self.closing = True
        if self._thread.is_alive():
            if nc is not None:
                try:
                    self.call(nc.close, self.connection.connect_timeout)
                except Exception:  # a connection that is down may fail to close
                    log.debug("%s: closing failed", self.owner, exc_info=True)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        if not self._loop.is_running():
            self._loop.close()
