"""AMQPConnection (where the broker is, how to reconnect) and the link: one pika connection
confined to a thread of its own.

A pika ``BlockingConnection`` is not thread-safe, and the executors call a source's ``open``,
``read``, ``acknowledge`` and ``close`` from whichever worker thread is free. So every source
gets a ``Link``: a thread that owns one connection and one channel, keeps them alive
(heartbeats, deliveries, reconnecting), and runs the calls other threads hand it
(``Link.call``). (Sinks publish through ``_publisher.py``'s ``Publisher``, the same idea on
pika's asynchronous connection, so that many confirms can be awaited at once.) Rules:

1. Only the link's thread touches pika objects; others wait on a future for the outcome. The
   thread is woken with ``add_callback_threadsafe`` (pika's one thread-safe entry point).
2. A lost connection is reopened with exponential backoff (``reconnect_delay`` doubling up to
   ``max_reconnect_delay``), forever, each outage logged once; every (re)connection gets a new
   ``generation``. Delivery tags belong to their channel: a tag of an older generation must
   never be acknowledged on a newer one (it would name another message), so positions carry
   their generation and the broker redelivers what the old channel did not acknowledge.
3. A call made while the connection is down fails at once with ``AMQPLinkDown`` (callers decide
   whether to wait: a read returns nothing, a flush retries); a call during which the
   connection drops fails with ``AMQPLinkDown`` too (its cause the pika error), and the link
   reconnects. Other errors (a publish the broker refused) are the caller's.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import SplitResult, quote, urlsplit, urlunsplit

import pika
import pika.exceptions

from pumpcore import ConfigError, ConfigRule, Configurable
from pumpcore.config import in_range, positive

if TYPE_CHECKING:
    from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

log = logging.getLogger("pumpcore.amqp")

T = TypeVar("T")

# How long the link's thread waits for I/O between calls: heartbeats are answered within it.
_IDLE_WAIT = 0.25


class AMQPLinkDown(ConnectionError):
    """The link has no connection to the broker now (it is reconnecting)."""


def redact_url(url: str) -> str:
    """``url`` fit for logs and reprs: the password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, ""))


class AMQPConnection(Configurable):
    """Where the broker is and how to reach it (BSPump's ``AMQPConnection``); sources and sinks
    given the same connection each open their own pika connection from it, on a thread of its
    own (rule 1).

    Config:
        url: ``amqp://user:password@host:port/vhost`` (or ``amqps://``); the password is masked
            in every log line, error and repr.
        virtual_host: overrides the URL's virtual host when not empty.
        username, password: override the URL's credentials when not empty (``password`` is
            masked like any secret config key).
        heartbeat: seconds between heartbeats the broker and the link exchange (0: none).
        connect_timeout: seconds a connection attempt may take; also how long ``open`` waits for
            the first connection before it fails.
        reconnect_delay: seconds before the first reconnection attempt, doubled after each
            failed one.
        max_reconnect_delay: the most the delay grows to.

    Example:
        >>> c = AMQPConnection(config={"url": "amqp://app:s3cret@127.0.0.1:5672/%2F"})
        >>> c
        AMQPConnection('amqp://app:***@127.0.0.1:5672/%2F')
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "url": "amqp://guest:guest@127.0.0.1:5672/%2F",
        "virtual_host": "",
        "username": "",
        "password": "",
        "heartbeat": 30.0,
        "connect_timeout": 10.0,
        "reconnect_delay": 0.5,
        "max_reconnect_delay": 30.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "heartbeat": in_range(0, 3600),
        "connect_timeout": positive() & in_range(0, 3600),
        "reconnect_delay": positive() & in_range(0, 3600),
        "max_reconnect_delay": positive() & in_range(0, 86400),
    }

    def apply_config(self) -> None:
        config = self.Config
        url = str(config["url"])
        parts = urlsplit(url)
        if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: config key 'url' must be "
                f"amqp://host[:port]/vhost or amqps://..., got {redact_url(url)!r}"
            )
        #: The broker's URL, with the overrides applied (never log it: use ``redacted_url``).
        self.URL = self._with_overrides(parts.scheme, parts)
        #: The URL without its password.
        self.redacted_url = redact_url(self.URL)
        self.heartbeat = float(config["heartbeat"])
        self.connect_timeout = float(config["connect_timeout"])
        self.reconnect_delay = float(config["reconnect_delay"])
        self.max_reconnect_delay = max(self.reconnect_delay, float(config["max_reconnect_delay"]))

    def _with_overrides(self, scheme: str, parts: SplitResult) -> str:
        config = self.Config
        user = str(config["username"]) or (parts.username or "")
        password = str(config["password"]) or (parts.password or "")
        host = parts.netloc.rpartition("@")[2]
        netloc = host
        if user or password:
            netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
        path = parts.path
        if config["virtual_host"]:
            path = "/" + quote(str(config["virtual_host"]), safe="")
        return urlunsplit((scheme, netloc, path, parts.query, ""))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.redacted_url!r})"

    def parameters(self) -> pika.URLParameters:
        """pika's connection parameters for this broker."""
        parameters = pika.URLParameters(self.URL)
        parameters.heartbeat = int(self.heartbeat)
        parameters.blocked_connection_timeout = self.connect_timeout * 6
        parameters.socket_timeout = self.connect_timeout
        parameters.stack_timeout = self.connect_timeout
        parameters.connection_attempts = 1
        return parameters

    def link(self, owner: str, setup: Callable[[BlockingChannel], None]) -> Link:
        """A new link (not started) whose channel is prepared by ``setup`` on each connection."""
        return Link(self, owner, setup)


class Link:
    """One pika connection and channel on a thread of its own (the module's rules)."""

    def __init__(
        self, connection: AMQPConnection, owner: str, setup: Callable[[BlockingChannel], None]
    ) -> None:
        self.connection = connection
        self.owner = owner
        self._setup = setup
        #: Incremented on every (re)connection (rule 2); 0 before the first.
        self.generation = 0
        #: Connections lost so far.
        self.disconnects = 0
        self.last_error: BaseException | None = None
        self._calls: deque[tuple[Callable[[BlockingChannel], Any], concurrent.futures.Future[Any]]]
        self._calls = deque()
        self._conn: BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._closing = threading.Event()
        self._connected = threading.Event()
        self._tried = threading.Event()  # the first connection attempt is over
        self._thread: threading.Thread | None = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        """Start the thread and wait for the first connection.

        Raises:
            ConnectionError: no connection within ``connect_timeout`` (with the last error).
        """
        self._thread = threading.Thread(
            target=self._run, name=f"pumpcore-amqp {self.owner}", daemon=True
        )
        self._thread.start()
        if not self._connected.wait(self.connection.connect_timeout):
            self.close()
            raise ConnectionError(
                f"{self.owner}: cannot connect to {self.connection.redacted_url} within "
                f"{self.connection.connect_timeout} s: {self.last_error!r}"
            ) from self.last_error

    def call(self, fn: Callable[[BlockingChannel], T], timeout: float | None = None) -> T:
        """Run ``fn(channel)`` on the link's thread and return what it returned.

        Raises:
            AMQPLinkDown: not connected now, or ``fn`` did not start within ``timeout`` (rule 3).
            Exception: what ``fn`` raised (a pika connection error also drops the connection).
        """
        if not self._connected.is_set():
            raise AMQPLinkDown(f"{self.owner}: not connected to {self.connection.redacted_url}")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._calls.append((fn, future))
        self._wake()
        try:
            return future.result(timeout)
        except TimeoutError:
            if future.cancel():  # still queued: it will not run
                raise AMQPLinkDown(f"{self.owner}: no answer within {timeout} s") from None
            return future.result()  # running: pika's own timeouts bound it

    def _wake(self) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            conn.add_callback_threadsafe(_nothing)
        except Exception:  # closed meanwhile: the thread sees the calls anyway
            log.debug("%s: wake-up of a closed connection", self.owner, exc_info=True)

    def close(self) -> None:
        """Close the channel and connection (unacknowledged deliveries go back to the queue)
        and end the thread."""
        self._closing.set()
        self._wake()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.connection.connect_timeout + 5)

    # ------------------------------------------------------------ the link's thread

    def _run(self) -> None:
        delay = self.connection.reconnect_delay
        failing = 0
        while not self._closing.is_set():
            if self._conn is None:
                try:
                    self._connect()
                except Exception as exc:  # every failure means: retry later
                    self.last_error = exc
                    failing += 1
                    level = logging.WARNING if failing == 1 else logging.DEBUG
                    log.log(
                        level, "%s: cannot connect to %s (%r); retrying every %.1f s at most",
                        self.owner, self.connection.redacted_url, exc,
                        self.connection.max_reconnect_delay,
                    )  # fmt: skip
                    self._closing.wait(delay)
                    delay = min(delay * 2, self.connection.max_reconnect_delay)
                    continue
                if failing:
                    log.info("%s: connected again after %d attempts", self.owner, failing)
                failing, delay = 0, self.connection.reconnect_delay
            try:
                self._serve_calls()
                if self._conn is not None:
                    self._conn.process_data_events(time_limit=_IDLE_WAIT)
            except Exception as exc:  # a broken connection: reconnect
                self._lost(exc)
        self._disconnect()
        self._fail_calls(AMQPLinkDown(f"{self.owner}: closed"))

    def _connect(self) -> None:
        conn = pika.BlockingConnection(self.connection.parameters())
        self.generation += 1  # before setup: its callbacks tag deliveries with it
        try:
            channel = conn.channel()
            self._setup(channel)
        except BaseException:
            _quietly_close(conn)
            raise
        self._conn, self._channel = conn, channel
        self._connected.set()

    def _serve_calls(self) -> None:
        calls = self._calls
        while calls and self._channel is not None:
            fn, future = calls.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(self._channel))
            except Exception as exc:
                if not _is_connection_failure(exc):
                    future.set_exception(exc)
                    continue
                down = AMQPLinkDown(f"{self.owner}: connection lost: {exc!r}")
                down.__cause__ = exc
                future.set_exception(down)
                self._lost(exc)

    def _lost(self, exc: BaseException) -> None:
        if self._closing.is_set() and self._conn is None:
            return
        self.last_error = exc
        self.disconnects += 1
        log.warning(
            "%s: connection to %s lost (%r); reconnecting",
            self.owner, self.connection.redacted_url, exc,
        )  # fmt: skip
        self._disconnect()
        self._fail_calls(AMQPLinkDown(f"{self.owner}: connection lost: {exc!r}"))

    def _disconnect(self) -> None:
        self._connected.clear()
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            _quietly_close(conn)

    def _fail_calls(self, exc: BaseException) -> None:
        while self._calls:
            _, future = self._calls.popleft()
            if future.set_running_or_notify_cancel():
                future.set_exception(exc)


def _nothing() -> None:
    """What the link's thread is woken with (rule 1)."""


def _is_connection_failure(exc: BaseException) -> bool:
    """True when ``exc`` means the connection or channel is unusable (so: reconnect)."""
    return isinstance(
        exc,
        pika.exceptions.AMQPConnectionError
        | pika.exceptions.ChannelClosed
        | pika.exceptions.ChannelWrongStateError
        | pika.exceptions.ConnectionWrongStateError,
    )


def _quietly_close(conn: BlockingConnection) -> None:
    try:
        if conn.is_open:
            conn.close()
    except Exception:  # closing a broken connection may fail in many ways
        log.debug("closing a broken AMQP connection failed", exc_info=True)
