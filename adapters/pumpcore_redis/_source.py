"""RedisStreamSource: reads a Redis stream as a member of a consumer group, at least once.

Rules:
1. Entries are read with XREADGROUP and acknowledged (XACK) only in ``acknowledge``, after
   every sink flushed what they became: an entry read but not acknowledged stays in the group's
   pending list.
2. On ``open``, the consumer first re-reads its own pending entries (XREADGROUP from id 0):
   what a previous run with the same ``consumer`` name read but never acknowledged (it was
   killed, a sink failed) is delivered again before anything new. With ``claim_idle`` set, it
   also takes over entries other consumers left pending that long (XAUTOCLAIM): a consumer
   that died for good loses nothing either.
3. The server gone is a failed read: counted as ``source.error`` (the pipeline goes on) and
   tried again after ``retry_delay``; the client reconnects. An acknowledgement that fails is
   kept and sent again with the next one: the entries stay pending meanwhile, never lost.
4. An entry deleted from the stream while pending (XREADGROUP returns it without fields) has
   nothing to deliver: it is acknowledged at once.
5. An entry whose fields do not decode (``encoding``) is rejected (``Rejected``: counted as
   ``event.rejected`` and dead-lettered by the pipeline) and acknowledged with its batch; the
   entries around it are delivered.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import redis

from pumpcore import ConfigError, ConfigRule
from pumpcore.config import in_range, text_codec
from pumpcore.lowlevel import Batch, BlockingSource, ReadResult, Received, Rejected

from ._connection import RedisConnection

if TYPE_CHECKING:
    from pumpcore import Pipeline


class RedisStreamSource(BlockingSource):
    """Emits each stream entry's fields as a ``dict`` (see the module's rules); the event's
    context holds ``redis_stream`` and ``redis_id``.

    Args:
        connection: where to read.

    Config:
        stream: the stream key. Required.
        group: the consumer group (created, with the stream, if absent).
        consumer: this consumer's name in the group; keep it across restarts (rule 2).
        start_id: where a new group starts: ``0`` (the whole stream) or ``$`` (new entries).
        block: seconds a read waits for new entries.
        claim_idle: seconds after which entries pending at another consumer are taken over
            (XAUTOCLAIM); 0: never.
        encoding: how field names and values are decoded; empty: keep them as ``bytes``.
        watch: False ends the input once a read finds nothing more (a batch job that drains
            the stream, then the run ends); True waits for new entries forever.

    Example:
        >>> source = RedisStreamSource(
        ...     connection=RedisConnection(), config={"stream": "orders", "group": "billing"}
        ... )
        >>> source.Stream, source.Group
        ('orders', 'billing')
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "stream": "",
        "group": "pumpcore",
        "consumer": "pumpcore",
        "start_id": "0",
        "block": 0.1,
        "claim_idle": 0.0,
        "encoding": "utf-8",
        "watch": True,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        # A stop waits for a read in progress: a long block delays it.
        "block": in_range(0.001, 10),
        "claim_idle": in_range(0, 86400 * 365),
        "encoding": text_codec(allow_empty=True),
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
        self._client: redis.Redis | None = None
        self._backlog: bytes | str | None = "0"  # where re-reading own pending entries is
        self._unacked: list[Any] = []  # acknowledgements that failed, sent with the next
        self._claimed_at = float("-inf")
        super().__init__(pipeline, id, config)
        self.isolate_source_failures = True  # rule 3

    def apply_config(self) -> None:
        super().apply_config()
        config = self.Config
        owner = f"{type(self).__name__} {self.Id!r}"
        #: The stream read.
        self.Stream = str(config["stream"])
        #: The consumer group.
        self.Group = str(config["group"])
        #: This consumer's name.
        self.Consumer = str(config["consumer"])
        self._block_ms = max(1, int(float(config["block"]) * 1000))
        self._claim_idle = float(config["claim_idle"])
        self._encoding = str(config["encoding"])
        self._watch = bool(config["watch"])
        for key in ("group", "consumer", "start_id"):
            if not str(config[key]):
                raise ConfigError(f"{owner}: config key {key!r} must not be empty, got ''")
        if self.Pipeline is not None and not self.Stream:
            raise ConfigError(f"{owner}: config key 'stream' is empty; give the stream")

    def open(self) -> None:
        """Create the group (and the stream) if absent; rule 2 starts with the backlog."""
        client = self._client = self.connection.client()
        try:
            client.xgroup_create(self.Stream, self.Group, id=self.Config["start_id"], mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._backlog = "0"

    def read(self, max_items: int) -> ReadResult:
        """Own pending entries first, then entries taken over, then new ones (rule 2)."""
        client = self._client
        assert client is not None, "read before open"
        self._retry_acknowledgements(client)
        if self._backlog is not None:
            entries = self._entries(
                client.xreadgroup(
                    self.Group, self.Consumer, {self.Stream: self._backlog}, count=max_items
                )
            )
            if entries:
                self._backlog = entries[-1][0]
                return self._batch(client, entries)
            self._backlog = None
        if self._claim_idle and time.monotonic() >= self._claimed_at + self._claim_idle:
            claimed = self._claim(client, max_items)
            if claimed:
                return self._batch(client, claimed)
            self._claimed_at = time.monotonic()
        entries = self._entries(
            client.xreadgroup(
                self.Group, self.Consumer, {self.Stream: ">"}, count=max_items, block=self._block_ms
            )
        )
        if not entries and not self._watch:
            return None  # drained
        return self._batch(client, entries)

    def _claim(self, client: redis.Redis, count: int) -> list[Any]:
        """Entries idle at other consumers for ``claim_idle`` seconds, now ours."""
        answer = client.xautoclaim(
            self.Stream, self.Group, self.Consumer, int(self._claim_idle * 1000), "0-0", count=count
        )
        return list(answer[1])

    @staticmethod
    def _entries(answer: Any) -> list[Any]:
        return list(answer[0][1]) if answer else []

    def _batch(self, client: redis.Redis, entries: Sequence[Any]) -> ReadResult:
        """The entries as a ``Batch``; as records when one cannot be decoded (rule 5)."""
        gone = [entry_id for entry_id, fields in entries if fields is None]
        if gone:
            client.xack(self.Stream, self.Group, *gone)  # rule 4
        events, positions, contexts = [], [], []
        decode = self._decode
        try:
            for entry_id, fields in entries:
                if fields is not None:
                    events.append({decode(k): decode(v) for k, v in fields.items()})
                    positions.append(entry_id)
                    contexts.append({"redis_stream": self.Stream, "redis_id": entry_id.decode()})
        except UnicodeDecodeError:
            return self._records(entries)
        return Batch(events, positions, contexts)

    def _records(self, entries: Sequence[Any]) -> list[Received | Rejected]:
        records: list[Received | Rejected] = []
        for entry_id, fields in entries:
            if fields is None:
                continue
            context = {"redis_stream": self.Stream, "redis_id": entry_id.decode()}
            try:
                event = {self._decode(k): self._decode(v) for k, v in fields.items()}
            except UnicodeDecodeError as exc:
                records.append(Rejected(fields, f"not {self._encoding}: {exc}", entry_id, context))
            else:
                records.append(Received(event, entry_id, context))
        return records

    def _decode(self, value: bytes) -> Any:
        return value.decode(self._encoding) if self._encoding else value

    def acknowledge(self, positions: Sequence[Any]) -> None:
        """XACK the entries (rule 1); a failure keeps them for the next call (rule 3)."""
        client = self._client
        assert client is not None, "acknowledge before open"
        self._unacked.extend(positions)
        self._retry_acknowledgements(client)

    def _retry_acknowledgements(self, client: redis.Redis) -> None:
        if self._unacked:
            client.xack(self.Stream, self.Group, *self._unacked)
            self._unacked.clear()

    def close(self) -> None:
        """Close the client; what was not acknowledged stays pending for the next run."""
        client, self._client = self._client, None
        if client is not None:
            client.close()
