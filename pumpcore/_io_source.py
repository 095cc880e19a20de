"""The executor ↔ adapter contract: sources and sinks that do I/O, and acknowledgements.

An adapter's source reads from the outside world (a broker, a socket, a file); the executor owns
*when* and *on which thread* that happens, the core owns what is done with what was read. So an
``IOSource`` is split in two:

- the pure half, here: a buffer the executor ``feed``s, ``pump``ed into the pipeline by the
  run machine like any other source, and the ledger of positions taken but not yet acknowledged;
- the I/O half, which the adapter writes: ``open``/``read``/``acknowledge``/``close`` as blocking
  methods (``BlockingSource``: the executor calls them in a worker thread, so blocking client
  libraries work under every executor) or as coroutines written on anyio (``AsyncSource``).

Sinks are ``Sink`` subclasses whose ``process`` only buffers (it runs on the executor's loop
thread) and whose ``flush`` (``BlockingSink``, worker thread) or ``aflush`` (``AsyncSink``) makes
what was buffered durable or raises.

Acknowledgement rules (at-least-once delivery; the bookkeeping is ``pumpcore/_delivery.py``):
1. A position is acknowledged only after every event derived from it was written by a sink (the
   sinks' flush returned), dropped on purpose (a processor returned None, the soft error policy),
   or dead-lettered.
2. Each ``pump`` makes one *mark* of the positions it took; a component that keeps an event (an
   async step in flight, an open aggregate, a queue to another pipeline) holds its mark. At a
   commit the executor takes, per source, the marks done so far from the front of its ledger,
   flushes every sink, then acknowledges their positions in read order. Commits need no idle
   moment: what is held back holds back only its own batches, so acknowledgements advance
   under steady load.
3. A position is never acknowledged after a hard failure that might concern it: an event that
   fails hard (or is abandoned at stop) fails its marks, and its source acknowledges nothing
   from there on in this run (later acknowledgements would commit the failed positions too,
   for brokers whose commits are cumulative); a sink whose flush raises *poisons* the sources
   that feed it. Other sources go on. A restart replays from the last acknowledged position.

Bad input: an input the adapter cannot turn into an event (an undecodable line, an oversized
message, a malformed frame) is returned by ``read`` as a ``Rejected`` among the ``Received``
items. It crosses threads the way every read does, so adapter code on a worker thread or on the
bridge's loop never touches the pipeline; ``pump`` hands it to the pipeline in read order
(``Pipeline.reject``: counted as ``event.rejected``, dead-lettered, reported to failure
listeners), and its position is done with its batch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from ._component import Context, Sink, Source
from ._config import ConfigRule, at_least, in_range
from ._delivery import Ledger, Origin, _current, running

if TYPE_CHECKING:
    from ._pipeline import Pipeline as PipelineT


class Received(NamedTuple):
    """One event as an adapter read it (a tuple: cheap to make once per record).

    Attributes:
        event: the event.
        position: what to acknowledge once the event is done (a Kafka offset, an AMQP delivery
            tag, a file offset); None when there is nothing to acknowledge.
        context: the event's context (a fresh ``{}`` when None).
    """

    event: Any
    position: Any = None
    context: Context | None = None


class Rejected(NamedTuple):
    """An input an adapter could not turn into an event; ``read`` returns it among its
    ``Received`` items (see the module's "Bad input").

    Attributes:
        raw: what was received (bytes, a prefix of them, or None when nothing was kept, e.g. a
            line too long to hold).
        reason: why it was rejected, short and for humans (``"not utf-8: ..."``); it becomes
            the message of the ``RejectedInputError`` the dead-letter sink gets.
        position: what to acknowledge once it is dealt with, as for ``Received``.
        context: the input's context (the peer, the connection), as an event's would be.
    """

    raw: Any
    reason: str
    position: Any = None
    context: Context | None = None


class Batch(NamedTuple):
    """Events read together, as parallel columns: what a high-rate adapter returns from
    ``read`` instead of a ``Received`` per record (no object per record is made, and the
    pipeline's fast path takes slices of the columns).

    Attributes:
        events: the events, in read order.
        positions: each event's position (none may be None), or None when there is nothing to
            acknowledge.
        contexts: each event's context, or None for a fresh ``{}`` each.
    """

    events: Sequence[Any]
    positions: Sequence[Any] | None = None
    contexts: Sequence[Context] | None = None


ReadResult = Sequence[Received | Rejected] | Batch | None
"""What ``read`` returns: records (bad inputs as ``Rejected`` among them), a ``Batch``, or None
when the input has ended for good."""


class IOSource(Source):
    """Base of sources that read through the executor. Adapters subclass ``BlockingSource`` or
    ``AsyncSource``, not this class.

    Config:
        read_size: the most events one ``read`` is asked for (default 1024, at most 2**20); the
            executor reads again once at most that many wait, so the next batch is read while
            the last is processed (a source holds at most about twice this many read events).
        poll_interval: seconds to wait before reading again after an empty read (default 0.05,
            a finite number >= 0).
        retry_delay: seconds to wait before reading again after a failed read (default 1.0,
            a finite number >= 0).
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "read_size": 1024,
        "poll_interval": 0.05,
        "retry_delay": 1.0,
    }

    def __init__(
        self,
        pipeline: PipelineT | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(pipeline, id, config)
        # Batches and rejects in read order; _io_head is how much of the first batch was taken,
        # _io_waiting how many events and rejects wait in all.
        self._io_buffer: deque[Batch | Rejected] = deque()
        self._io_head = 0
        self._io_waiting = 0
        self._ended = False
        self._reading = False
        self._read_at = float("-inf")
        self.ledger = Ledger(self)

    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        # A read allocates for read_size events: a million is plenty, a billion eats memory.
        "read_size": in_range(1, 2**20),
        # NaN or a negative delay would make the executor read again at once, forever.
        "poll_interval": at_least(0),
        "retry_delay": at_least(0),
    }

    def apply_config(self) -> None:
        """Read ``read_size`` (the keys are checked by ``ConfigRules``)."""
        self.read_size = int(self.Config["read_size"])

    # ------------------------------------------------------------ fed by the executor

    def wants_read(self, now: float) -> bool:
        """True when the executor should start a ``read`` now."""
        return (
            not self._ended
            and not self._reading
            and self._io_waiting <= self.read_size  # one batch may wait while the next is read
            and now >= self._read_at
        )

    def begin_read(self) -> int:
        """The executor starts a read; returns how many events to ask for."""
        self._reading = True
        return self.read_size

    def feed(self, items: ReadResult, now: float) -> None:
        """The read returned ``items`` (None: the input has ended for good)."""
        self._reading = False
        if items is None:
            self._ended = True
            return
        before = self._io_waiting
        if type(items) is Batch:
            if items.events:
                self._io_buffer.append(items)
                self._io_waiting += len(items.events)
        else:
            self._feed_records(items)  # type: ignore[arg-type]
        if self._io_waiting == before:
            self._read_at = now + float(self.Config["poll_interval"])

    def _feed_records(self, items: Sequence[Received | Rejected]) -> None:
        """Turn records into batches (runs of ``Received``) and rejects, in read order."""
        buffer, n, start = self._io_buffer, len(items), 0
        while start < n:
            if type(items[start]) is Rejected:
                buffer.append(items[start])  # type: ignore[arg-type]
                start += 1
                continue
            end = start + 1
            while end < n and type(items[end]) is not Rejected:
                end += 1
            events, positions, contexts = zip(*items[start:end], strict=True)
            buffer.extend(_batches(events, positions, _contexts(contexts)))
            start = end
        self._io_waiting += n

    def read_failed(self, now: float) -> None:
        """The read raised (already reported to the pipeline); try again after ``retry_delay``."""
        self._reading = False
        self._read_at = now + float(self.Config["retry_delay"])

    @property
    def poisoned(self) -> bool:
        """True once this source can acknowledge nothing more in this run (rule 3): an event of
        its failed hard or was abandoned, or a write that may concern it failed."""
        return self.ledger.poisoned or self.ledger.failed()

    def discard(self, revoked: Callable[[Any], bool]) -> int:
        """Drop the buffered events and rejects (read, not yet taken) whose position
        ``revoked(position)`` says; return how many. Call it on the executor's thread (from
        ``feed``).

        For brokers that take positions back: a consumer group rebalance gives a partition to
        another member, which reads it again from the last commit, so its events still waiting
        here are delivered there; processing them here too would only duplicate them. Nothing
        of them was taken, so the ledger holds no mark of them.
        """
        kept: deque[Batch | Rejected] = deque()
        dropped = 0
        for i, item in enumerate(self._io_buffer):
            if type(item) is Rejected:
                if item.position is not None and revoked(item.position):
                    dropped += 1
                else:
                    kept.append(item)
                continue
            assert type(item) is Batch
            start = self._io_head if i == 0 else 0
            if item.positions is None:
                kept.append(Batch(item.events[start:], None, _slice(item.contexts, start)))
                continue
            keep = [j for j in range(start, len(item.events)) if not revoked(item.positions[j])]
            dropped += len(item.events) - start - len(keep)
            if keep:
                contexts = item.contexts
                kept.append(
                    Batch(
                        [item.events[j] for j in keep],
                        [item.positions[j] for j in keep],
                        None if contexts is None else [contexts[j] for j in keep],
                    )
                )
        self._io_buffer, self._io_head = kept, 0
        self._io_waiting -= dropped
        return dropped

    # ------------------------------------------------------------ the Source protocol

    def has_pending(self) -> bool:
        """True while read events wait in the buffer."""
        return self._io_waiting > 0

    def buffered(self) -> int:
        """Read events waiting in the buffer."""
        return self._io_waiting

    def exhausted(self) -> bool:
        """True once the input ended and every read event was taken."""
        return self._ended and not self._io_waiting

    def next_awake(self) -> float | None:
        """When the next read may start (after an empty or failed read)."""
        if self._ended or self._reading or self._read_at == float("-inf"):
            return None
        return self._read_at

    def pump(self, max_items: int) -> int:
        """Process up to ``max_items`` buffered events; return how many were taken.

        Each slice of a batch goes to ``Pipeline.process_batch`` as one mark of the source's
        ledger (``pumpcore/_delivery``), the current origin while it is processed; a reject goes
        to ``Pipeline.reject`` in its turn, its position done with it.
        """
        pipeline = self.Pipeline
        if pipeline is None:
            raise RuntimeError(f"source {self.Id!r} is not part of a pipeline")
        buffer, ledger = self._io_buffer, self.ledger
        taken = 0
        while taken < max_items and buffer and pipeline.is_ready():
            head = buffer[0]
            if type(head) is Rejected:
                buffer.popleft()
                mark = ledger.open_mark(() if head.position is None else (head.position,))
                with running(Origin((mark,))):
                    context = {} if head.context is None else head.context
                    pipeline.reject(self.Id, head.raw, head.reason, context)
                taken += 1
                continue
            assert type(head) is Batch
            at = self._io_head
            end = min(len(head.events), at + max_items - taken)
            events = head.events[at:end]
            positions = () if head.positions is None else head.positions[at:end]
            contexts = None if head.contexts is None else head.contexts[at:end]
            mark = ledger.open_mark(positions)
            token = _current.set(Origin((mark,)))
            try:
                done = pipeline.process_batch(events, contexts)
            finally:
                _current.reset(token)
            if done < end - at and positions:
                mark.positions = positions[:done]
            taken += done
            if at + done == len(head.events):
                buffer.popleft()
                self._io_head = 0
            else:
                self._io_head = at + done
            if done < end - at:
                break  # the pipeline stopped taking (throttled, or a hard error)
        self._io_waiting -= taken
        return taken


def _batches(
    events: Sequence[Any], positions: Sequence[Any], contexts: Sequence[Context] | None
) -> list[Batch]:
    """Records as batches whose positions column is whole: all positions, or None. A run of
    records some of which have no position is cut where that changes (rare), so marks never
    hold a None and acknowledging needs no filtering."""
    has = [p is not None for p in positions]
    if all(has):
        return [Batch(events, positions, contexts)]
    if not any(has):
        return [Batch(events, None, contexts)]
    batches, start = [], 0
    for end in range(1, len(has) + 1):
        if end == len(has) or has[end] != has[start]:
            batches.append(
                Batch(
                    events[start:end],
                    positions[start:end] if has[start] else None,
                    None if contexts is None else contexts[start:end],
                )
            )
            start = end
    return batches


def _slice(column: Sequence[Context] | None, start: int) -> Sequence[Context] | None:
    return None if column is None else column[start:]


def _contexts(values: Sequence[Context | None]) -> Sequence[Context] | None:
    """Contexts of records as a batch column: None when none has one, fresh ``{}`` for those
    without one otherwise."""
    if all(v is None for v in values):
        return None
    return [{} if v is None else v for v in values]


class BlockingSource(IOSource):
    """A source on a blocking client library. The executor calls every method below in a worker
    thread (the sync executor in its own thread), one at a time.

    Example:
        >>> class Numbers(BlockingSource):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.next, self.acked = 0, []
        ...     def read(self, max_items):
        ...         if self.next >= 3:
        ...             return None
        ...         self.next += 1
        ...         return [Received(self.next, position=self.next)]
        ...     def acknowledge(self, positions):
        ...         self.acked.extend(positions)
    """

    def open(self) -> None:
        """Connect; called once before the first ``read``."""

    def read(self, max_items: int) -> ReadResult:
        """Return up to ``max_items`` events (records, or a ``Batch``); ``[]`` when none came
        within a short poll, None when the input has ended. May block (briefly: a stop waits for
        a read in progress). An input that cannot become an event is returned as a ``Rejected``
        in its place."""
        return None

    def acknowledge(self, positions: Sequence[Any]) -> None:
        """Commit ``positions`` (in read order): every event derived from them is done."""

    def close(self) -> None:
        """Disconnect; called once, last."""


class AsyncSource(IOSource):
    """A source on an anyio-based client; the methods are
    coroutines run on the executor's loop. Same meaning as ``BlockingSource``'s."""

    async def open(self) -> None:
        """Connect; called once before the first ``read``."""

    async def read(self, max_items: int) -> ReadResult:
        """Return up to ``max_items`` events (``Rejected`` for bad input); ``[]`` when none came,
        None when the input ended."""
        return None

    async def acknowledge(self, positions: Sequence[Any]) -> None:
        """Commit ``positions`` (in read order)."""

    async def serve(self) -> None:
        """Work in the background from after ``open`` until the source is closed: a server
        accepts connections here and hands what they send to ``read``. Cancelled before
        ``aclose``. The default does nothing."""

    async def aclose(self) -> None:
        """Disconnect; called once, last."""


def has_serve(source: AsyncSource) -> bool:
    """True when the source overrides ``serve`` (it needs a background task)."""
    return type(source).serve is not AsyncSource.serve


class BlockingSink(Sink):
    """A sink on a blocking client library: ``process`` only buffers (it runs on the executor's
    loop thread); ``open``, ``flush`` and ``close`` may block and run in a worker thread.

    ``flush`` must return only once everything buffered is durable, and raise when any of it was
    not written: a position is acknowledged only after a flush returned (module rules 1-3).
    """

    def open(self) -> None:
        """Connect; called once before the first event."""

    def flush(self) -> None:
        """Write what was buffered; return when it is durable, raise when it is not."""

    def close(self) -> None:
        """Disconnect; called once, after the last flush."""


class AsyncSink(Sink):
    """A sink on an anyio-based client (under the sync and threads executors its coroutines
    run on a private event loop thread, the bridge)."""

    async def aopen(self) -> None:
        """Connect; called once before the first event."""

    async def aflush(self) -> None:
        """Write what was buffered; return when it is durable, raise when it is not."""

    async def aclose(self) -> None:
        """Disconnect; called once, after the last flush."""


def flush_is_noop(sink: Sink) -> bool:
    """True when ``sink`` keeps the base ``Sink.flush`` (nothing to do, no thread needed)."""
    return type(sink).flush is Sink.flush and not isinstance(sink, AsyncSink)
