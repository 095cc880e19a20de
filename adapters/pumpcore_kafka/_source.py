"""KafkaSource: a consumer group member whose offsets are committed only once the events read
from them were written by every sink.

Guarantees (at-least-once; BSPump committed before processing, which loses what a crash
interrupts):
1. Offsets are never auto-committed. ``acknowledge`` (called by the executor after every sink
   flushed what derives from the positions) commits, per partition, the last acknowledged offset
   + 1, synchronously. So after a crash or a kill the group resumes at or before the first event
   not yet written: nothing is lost; what was written but not yet committed is read again (the
   duplicates, at most about a commit's worth: the executor's ``commit_every`` plus a read).
2. Rebalance: a position carries the assignment it was read under. When a partition is revoked,
   what was acknowledged is already committed (commits are synchronous and the client serves
   rebalances only inside ``read``); its events still buffered (read, not taken) are dropped
   (``IOSource.discard``; counted in ``statistics().revoked_discarded``), and acknowledgements
   of its events already in the pipeline are not committed: the new owner reads them all again
   from the last commit. Nothing is lost; a commit is never made for a partition this consumer
   does not own (which could move a later owner's offset back).
3. A message that cannot be decoded (``decode`` = utf-8 or json), or a tombstone (no value), is a
   ``Rejected``: counted as ``event.rejected``, dead-lettered, its offset committed with the
   others; the consumer goes on.
4. A commit refused because the group is rebalancing is logged and counted
   (``commit_conflicts``): its partitions are read again by their next owner (duplicates, no
   loss). Any other commit failure raises from ``acknowledge``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from pumpcore import BlockingSource, ConfigError, ConfigRule, Context
from pumpcore.config import config_owner, non_empty, one_of, positive
from pumpcore.lowlevel import Batch, ReadResult, Received, Rejected

from ._connection import KafkaConnection, parse_properties, resolve_connection
from ._topics import parse_topics

if TYPE_CHECKING:
    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.kafka")

# Commit refusals that mean "the group is rebalancing": the partitions go to their next owner,
# which reads from the last commit (duplicates, no loss).
_REBALANCING = frozenset(
    {
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError._ASSIGNMENT_LOST,
        KafkaError._STATE,
    }
)
# Properties the source owns: auto-commit would commit before the sinks wrote (guarantee 1).
_OWNED = ("enable.auto.commit", "enable.auto.offset.store", "group.id")


class _Claim:
    """One assignment of one partition to this consumer. Positions are ``(claim, offset)``: a
    position read before its partition was revoked is never committed (guarantee 2)."""

    __slots__ = ("live", "partition", "topic")

    def __init__(self, topic: str, partition: int) -> None:
        self.topic, self.partition, self.live = topic, partition, True


def _revoked(position: tuple[_Claim, int]) -> bool:
    return not position[0].live


class KafkaSourceStatistics(NamedTuple):
    """What a ``KafkaSource`` did so far.

    Attributes:
        read: messages read (events and rejects).
        commits: commits made.
        commit_conflicts: commits refused because the group was rebalancing (guarantee 4).
        revoked_discarded: buffered events dropped because their partition was revoked
            (guarantee 2; the partition's next owner reads them).
        consumer_errors: errors the client reported and recovers from (a broker down).
    """

    read: int
    commits: int
    commit_conflicts: int
    revoked_discarded: int
    consumer_errors: int


class KafkaSource(BlockingSource):
    """Consumes topics as a member of a consumer group (BSPump's ``KafkaSource``); see the
    module for the guarantees.

    Each event is the message's value (``decode``: bytes as they are, utf-8 text, or JSON);
    its context holds ``kafka_key``, ``kafka_headers`` (a list of ``(name, bytes)`` or None),
    ``kafka_topic``, ``kafka_partition``, ``kafka_offset`` and ``kafka_timestamp`` (milliseconds
    since the epoch, or None).

    Args:
        connection: a ``KafkaConnection``, or the id of one registered on the pump.

    Config:
        topic: topics to subscribe to: a list or a comma-separated string; ``topic:partition``
            entries are assigned instead (every entry must then name a partition): no group
            membership, no rebalance, a restart reads at once; ``group_id`` keeps the commits.
        group_id: the consumer group; required (it is where offsets are committed).
        auto.offset.reset: where a group with no committed offset starts: ``earliest`` (every
            message kept, the at-least-once default) or ``latest``.
        decode: ``bytes``, ``utf-8`` or ``json``; a message that fails to decode is rejected.
        poll_timeout: seconds one read waits for messages (a stop waits for a read to return).
        consumer: extra librdkafka consumer properties: a dict, or a JSON object in a config file
            (``session.timeout.ms``, ``max.poll.interval.ms``, ``partition.assignment.strategy``
            …). ``enable.auto.commit`` and ``group.id`` are the source's own and refused here.

    Example:
        >>> source = KafkaSource(
        ...     connection=KafkaConnection(), config={"topic": "a, b", "group_id": "g"}
        ... )
        >>> source.Topics
        [('a', None), ('b', None)]
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "topic": None,
        "group_id": "",
        "auto.offset.reset": "earliest",
        "decode": "bytes",
        "poll_timeout": 0.1,
        "consumer": None,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "group_id": non_empty(),
        "auto.offset.reset": one_of("earliest", "latest", "error"),
        "decode": one_of("bytes", "utf-8", "json"),
        "poll_timeout": positive(),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        connection: KafkaConnection | str = "KafkaConnection",
    ) -> None:
        self._connection_arg = connection
        self._consumer: Consumer | None = None
        self._claims: dict[tuple[str, int], _Claim] = {}
        self._revocations = 0  # counted on the read thread, compared on the executor's in feed
        self._discarded_at = 0
        self._read = self._commits = self._conflicts = self._discarded = self._errors = 0
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        super().apply_config()
        owner = config_owner(self)
        config = self.Config
        #: ``(topic, partition or None)`` per entry of ``topic``.
        self.Topics = parse_topics(owner, "topic", config["topic"])
        assigned = [p is not None for _, p in self.Topics]
        if any(assigned) and not all(assigned):
            raise ConfigError(
                f"{owner}: config key 'topic' mixes topics and topic:partition entries, got "
                f"{config['topic']!r}; either subscribe (no partitions) or assign (all)"
            )
        self._assign = all(assigned)
        extra = parse_properties(owner, "consumer", config["consumer"])
        for key in _OWNED:
            if key in extra:
                raise ConfigError(
                    f"{owner}: config key 'consumer' sets {key!r}, which the source owns "
                    "(offsets are committed only after the sinks wrote)"
                )
        self._extra = extra
        self._decode = str(config["decode"])
        self._timeout = float(config["poll_timeout"])

    def statistics(self) -> KafkaSourceStatistics:
        """What the source did so far."""
        return KafkaSourceStatistics(
            self._read, self._commits, self._conflicts, self._discarded, self._errors
        )

    # ------------------------------------------------------------ worker thread

    def open(self) -> None:
        """Create the consumer and subscribe (or assign ``topic:partition`` entries)."""
        connection = resolve_connection(self, self._connection_arg)
        consumer = Consumer(
            {
                **connection.client_config(),
                "group.id": str(self.Config["group_id"]),
                "auto.offset.reset": str(self.Config["auto.offset.reset"]),
                **self._extra,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
            },
            logger=log,
        )
        self._consumer = consumer
        if self._assign:
            partitions = [TopicPartition(t, p) for t, p in self.Topics if p is not None]
            self._on_assign(consumer, partitions)
            consumer.assign(partitions)
        else:
            consumer.subscribe(
                [t for t, _ in self.Topics],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_revoke,
            )

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._claims[(tp.topic, tp.partition)] = _Claim(tp.topic, tp.partition)
        log.info("%s: assigned %s", self.locate_address(), _names(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            claim = self._claims.pop((tp.topic, tp.partition), None)
            if claim is not None:
                claim.live = False
        self._revocations += 1
        log.info("%s: revoked %s", self.locate_address(), _names(partitions))

    def read(self, max_items: int) -> ReadResult:
        """Up to ``max_items`` messages as a ``Batch`` (records when some are rejected)."""
        consumer = self._consumer
        assert consumer is not None, "read before open"
        messages = consumer.consume(max_items, self._timeout)
        events: list[Any] = []
        positions: list[tuple[_Claim, int]] = []
        contexts: list[Context] = []
        rejects: dict[int, str] = {}
        claims, decode = self._claims, self._decode
        raw = decode == "bytes"
        for message in messages:
            if message.error() is not None:
                self._client_error(message.error())  # type: ignore[arg-type]
                continue
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            claim = claims.get((topic, partition))  # type: ignore[arg-type]
            if claim is None:
                continue  # revoked since it was fetched: its next owner reads it
            value = message.value()
            kind, stamp = message.timestamp()
            positions.append((claim, offset))  # type: ignore[arg-type]
            contexts.append(
                {
                    "kafka_key": message.key(),
                    "kafka_headers": message.headers(),
                    "kafka_topic": topic,
                    "kafka_partition": partition,
                    "kafka_offset": offset,
                    "kafka_timestamp": stamp if kind else None,  # 0: no timestamp
                }
            )
            if raw and value is not None:
                events.append(value)
                continue
            try:
                events.append(_decoded(value, decode))
            except ValueError as exc:
                rejects[len(events)] = str(exc)
                events.append(value)
        self._read += len(events)
        if not rejects:
            return Batch(events, positions, contexts)
        return [
            Rejected(e, rejects[i], p, c) if i in rejects else Received(e, p, c)
            for i, (e, p, c) in enumerate(zip(events, positions, contexts, strict=True))
        ]

    def _client_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise KafkaException(error)
        self._errors += 1
        log.warning("%s: %s", self.locate_address(), error.str())

    def acknowledge(self, positions: Sequence[Any]) -> None:
        """Commit each partition's last acknowledged offset + 1, for partitions still owned.

        Raises:
            KafkaException: the commit failed other than by a rebalance (guarantee 4).
        """
        consumer = self._consumer
        assert consumer is not None, "acknowledge before open"
        last: dict[_Claim, int] = dict(positions)  # read order: the last offset wins
        offsets = [
            TopicPartition(c.topic, c.partition, offset + 1) for c, offset in last.items() if c.live
        ]
        if not offsets:
            return
        try:
            committed = consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            self._commit_failed(exc.args[0])
            return
        for tp in committed or ():
            if tp.error is not None:
                self._commit_failed(tp.error)
                return
        self._commits += 1

    def _commit_failed(self, error: KafkaError) -> None:
        if error.code() not in _REBALANCING:
            raise KafkaException(error)
        self._conflicts += 1
        log.warning(
            "%s: commit refused while the group rebalances (%s); the partitions' next owner "
            "reads them again from the last commit",
            self.locate_address(),
            error.str(),
        )

    def close(self) -> None:
        """Leave the group (what was acknowledged is already committed)."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()

    # ------------------------------------------------------------ executor thread

    def feed(self, items: ReadResult, now: float) -> None:
        """Take a read's result; after a rebalance, first drop buffered events of revoked
        partitions (guarantee 2)."""
        revocations = self._revocations
        if revocations != self._discarded_at:
            self._discarded_at = revocations
            self._discarded += self.discard(_revoked)
        super().feed(items, now)


def _decoded(value: bytes | str | None, decode: str) -> Any:
    """The event for a message's value; ValueError (the reason) when it cannot be one."""
    if value is None:
        raise ValueError("tombstone: the message has no value")
    if isinstance(value, str):
        value = value.encode()
    if decode == "bytes":
        return value
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not utf-8: {exc}") from None
    if decode == "utf-8":
        return text
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}:{tp.partition}" for tp in partitions) or "nothing"
