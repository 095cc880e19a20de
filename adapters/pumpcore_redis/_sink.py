"""RedisSink: buffers events, appends them to a stream (XADD) or a list (RPUSH) in flush.

It is a ``BlockingSink``: ``process`` (the executor's loop thread) only encodes and buffers;
``flush`` (a worker thread) sends the buffer in pipelined chunks and returns once Redis
answered every command, so the executor acknowledges the sources' positions only for events
Redis holds.

Rules:
1. An event that cannot be encoded (a stream event that is not a mapping of fields, a value
   that is not text, bytes or a number) raises from ``process``: the pipeline's error policy
   counts and dead-letters it.
2. The server gone (a lost connection, a timeout) is the server's fault: ``flush`` tries the
   chunk again every ``reconnect_delay`` seconds for at most ``flush_timeout`` seconds, then
   raises (the run is poisoned: nothing more is acknowledged; a restart replays). Chunks Redis
   answered are not sent again; a chunk cut in flight may have been applied in part, so its
   events may be appended twice (at-least-once).
3. A command Redis refuses (the key holds another type) makes ``flush`` raise: the config's
   fault, nothing is acknowledged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import orjson
import redis

from pumpcore import BlockingSink, ConfigError, ConfigRule, Context
from pumpcore.config import in_range, one_of

from ._connection import RedisConnection, is_server_gone

if TYPE_CHECKING:
    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.redis")

_CHUNK = 1000  # commands per pipelined round trip


@attrs.frozen
class RedisSinkStatistics:
    """A Redis sink's counters.

    Attributes:
        written: events Redis answered for.
        reconnects: times the server was gone during a flush and a chunk was sent again.
    """

    written: int
    reconnects: int


class RedisSink(BlockingSink):
    """Appends events to a Redis stream or list (see the module's rules).

    Stream entries are the event's fields (a mapping; ``dict`` and ``list`` values as JSON);
    list items are the event as it is (``bytes``, ``str``, a number) or as JSON.

    Args:
        connection: where to write.

    Config:
        key: the stream or list. Required (or override ``key_of``).
        mode: ``stream`` (XADD) or ``list`` (RPUSH).
        maxlen: trim the stream to about this many entries (``MAXLEN ~``); 0: never.
        flush_timeout: seconds a flush keeps trying a server gone before it raises.

    Example:
        >>> sink = RedisSink(connection=RedisConnection(), config={"key": "events"})
        >>> sink.encode({}, {"n": 1, "tags": ["a"]})
        ('events', {'n': 1, 'tags': b'["a"]'})
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "key": "",
        "mode": "stream",
        "maxlen": 0,
        "flush_timeout": 60.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "mode": one_of("stream", "list"),
        "maxlen": in_range(0, 2**63 - 1),
        "flush_timeout": in_range(0, 86400),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        connection: RedisConnection,
    ) -> None:
        self.connection = connection
        self._buffer: list[tuple[str, Any]] = []
        self._client: redis.Redis | None = None
        self._written = self._reconnects = 0
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        super().apply_config()
        config = self.Config
        #: The stream or list written.
        self.Key = str(config["key"])
        self._stream = config["mode"] == "stream"
        self._maxlen = int(config["maxlen"]) or None
        self._flush_timeout = float(config["flush_timeout"])
        if self.Pipeline is not None and not self.Key and type(self).key_of is RedisSink.key_of:
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: config key 'key' is empty; give the key"
            )

    def statistics(self) -> RedisSinkStatistics:
        """Events written and reconnections so far."""
        return RedisSinkStatistics(self._written, self._reconnects)

    def key_of(self, context: Context, event: Any) -> str:
        """The key ``event`` goes to: ``Key``. Override it to route by event."""
        return self.Key

    def encode(self, context: Context, event: Any) -> tuple[str, Any]:
        """The key and the stream entry's fields (or the list item) for ``event``.

        Raises:
            TypeError: the event cannot be written (rule 1).
        """
        key = self.key_of(context, event)
        if not self._stream:
            return key, _value(self, event)
        if not (type(event) is dict or isinstance(event, Mapping)) or not event:
            raise TypeError(
                f"{type(self).__name__} {self.Id!r}: a stream entry needs a non-empty mapping "
                f"of fields, got {type(event).__name__}"
            )
        for k, v in event.items():
            if type(k) is not str or type(v) not in _PLAIN:  # the slow path only then
                return key, {str(k): _value(self, v) for k, v in event.items()}
        return key, event

    def process(self, context: Context, event: Any) -> None:
        """Encode the event and buffer it for the next flush."""
        self._buffer.append(self.encode(context, event))

    def open(self) -> None:
        """Make the client (it connects on the first flush)."""
        self._client = self.connection.client()

    def flush(self) -> None:
        """Send everything buffered, in order, in pipelined chunks (rules 2 and 3).

        Raises:
            redis.RedisError: the server stayed gone for ``flush_timeout`` seconds, or it
                refused a command.
        """
        if self._client is None:
            self._client = self.connection.client()
        deadline = time.monotonic() + self._flush_timeout
        buffer = self._buffer
        while buffer:
            chunk = buffer[:_CHUNK]
            try:
                self._send(self._client, chunk)
            except redis.RedisError as exc:
                if not is_server_gone(exc) or (
                    time.monotonic() + self.connection.reconnect_delay > deadline
                ):
                    raise
                self._reconnects += 1
                log.warning(
                    "%s: the server is gone (%s); sending %d events again in %.1f s",
                    self.Id, exc, len(chunk), self.connection.reconnect_delay,
                )  # fmt: skip
                time.sleep(self.connection.reconnect_delay)
                continue
            del buffer[: len(chunk)]
            self._written += len(chunk)

    def _send(self, client: redis.Redis, chunk: list[tuple[str, Any]]) -> None:
        pipe = client.pipeline(transaction=False)
        for key, value in chunk:
            if self._stream:
                pipe.xadd(key, value, maxlen=self._maxlen, approximate=True)
            else:
                pipe.rpush(key, value)
        pipe.execute(raise_on_error=True)

    def close(self) -> None:
        """Close the client. Events still buffered (the last flush failed) were never
        acknowledged."""
        self._buffer.clear()
        client, self._client = self._client, None
        if client is not None:
            client.close()


_PLAIN = frozenset({bytes, str, int, float})


def _value(sink: RedisSink, value: Any) -> Any:
    """A value as Redis takes it: bytes, text and numbers as they are, the rest as JSON."""
    if type(value) in _PLAIN or (
        isinstance(value, bytes | str | int | float) and not isinstance(value, bool)
    ):
        return value
    try:
        return orjson.dumps(value)
    except TypeError:
        raise TypeError(
            f"{type(sink).__name__} {sink.Id!r}: cannot write a {type(value).__name__}"
        ) from None
