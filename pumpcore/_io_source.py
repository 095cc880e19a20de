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
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from ._component import Context, Sink, Source
from ._delivery import Ledger, Origin, _current
from ._errors import ConfigError

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


class IOSource(Source):
    """Base of sources that read through the executor. Adapters subclass ``BlockingSource`` or
    ``AsyncSource``, not this class.

    Config:
        read_size: the most events one ``read`` is asked for (default 256); the executor reads
            again when fewer than that wait in the buffer.
        poll_interval: seconds to wait before reading again after an empty read (default 0.05).
        retry_delay: seconds to wait before reading again after a failed read (default 1.0).
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "read_size": 256,
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
        self._buffer: deque[Received] = deque()
        self._ended = False
        self._reading = False
        self._read_at = float("-inf")
        self.ledger = Ledger(self)

    def apply_config(self) -> None:
        """Read and check ``read_size``."""
        self.read_size = int(self.Config["read_size"])
        if self.read_size < 1:
            raise ConfigError(f"{type(self).__name__} {self.Id!r}: read_size must be >= 1")

    # ------------------------------------------------------------ fed by the executor

    def wants_read(self, now: float) -> bool:
        """True when the executor should start a ``read`` now."""
        return (
            not self._ended
            and not self._reading
            and len(self._buffer) < self.read_size
            and now >= self._read_at
        )

    def begin_read(self) -> int:
        """The executor starts a read; returns how many events to ask for."""
        self._reading = True
        return self.read_size

    def feed(self, items: Iterable[Received] | None, now: float) -> None:
        """The read returned ``items`` (None: the input has ended for good)."""
        self._reading = False
        if items is None:
            self._ended = True
            return
        before = len(self._buffer)
        self._buffer.extend(items)
        if len(self._buffer) == before:
            self._read_at = now + float(self.Config["poll_interval"])

    def read_failed(self, now: float) -> None:
        """The read raised (already reported to the pipeline); try again after ``retry_delay``."""
        self._reading = False
        self._read_at = now + float(self.Config["retry_delay"])

    @property
    def poisoned(self) -> bool:
        """True once this source can acknowledge nothing more in this run (rule 3): an event of
        its failed hard or was abandoned, or a write that may concern it failed."""
        return self.ledger.poisoned or self.ledger.failed()

    # ------------------------------------------------------------ the Source protocol

    def has_pending(self) -> bool:
        """True while read events wait in the buffer."""
        return bool(self._buffer)

    def buffered(self) -> int:
        """Read events waiting in the buffer."""
        return len(self._buffer)

    def exhausted(self) -> bool:
        """True once the input ended and every read event was taken."""
        return self._ended and not self._buffer

    def next_awake(self) -> float | None:
        """When the next read may start (after an empty or failed read)."""
        if self._ended or self._reading or self._read_at == float("-inf"):
            return None
        return self._read_at

    def pump(self, max_items: int) -> int:
        """Process up to ``max_items`` buffered events as one batch; return how many were taken.

        The batch's positions become one mark of the source's ledger (``pumpcore/_delivery``),
        the current origin while it is processed.
        """
        pipeline = self.Pipeline
        if pipeline is None:
            raise RuntimeError(f"source {self.Id!r} is not part of a pipeline")
        buffer = self._buffer
        n = min(max_items, len(buffer))
        if n == 0:
            return 0
        batch = [buffer.popleft() for _ in range(n)]
        mark = self.ledger.open_mark([r[1] for r in batch if r[1] is not None])
        token = _current.set(Origin((mark,)))
        try:
            taken = pipeline.process_batch(
                [r[0] for r in batch], [{} if r[2] is None else r[2] for r in batch]
            )
        finally:
            _current.reset(token)
        if taken < n:
            buffer.extendleft(reversed(batch[taken:]))
            mark.positions = [r[1] for r in batch[:taken] if r[1] is not None]
        return taken


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

    def read(self, max_items: int) -> Sequence[Received] | None:
        """Return up to ``max_items`` events; ``[]`` when none came within a short poll, None when
        the input has ended. May block (briefly: a stop waits for a read in progress)."""
        return None

    def acknowledge(self, positions: Sequence[Any]) -> None:
        """Commit ``positions`` (in read order): every event derived from them is done."""

    def close(self) -> None:
        """Disconnect; called once, last."""


class AsyncSource(IOSource):
    """A source on an anyio-based client, for the async executors only; the methods are
    coroutines run on the executor's loop. Same meaning as ``BlockingSource``'s."""

    async def open(self) -> None:
        """Connect; called once before the first ``read``."""

    async def read(self, max_items: int) -> Sequence[Received] | None:
        """Return up to ``max_items`` events; ``[]`` when none came, None when the input ended."""
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
    """A sink on an anyio-based client, for the async executors only."""

    async def aopen(self) -> None:
        """Connect; called once before the first event."""

    async def aflush(self) -> None:
        """Write what was buffered; return when it is durable, raise when it is not."""

    async def aclose(self) -> None:
        """Disconnect; called once, after the last flush."""


def flush_is_noop(sink: Sink) -> bool:
    """True when ``sink`` keeps the base ``Sink.flush`` (nothing to do, no thread needed)."""
    return type(sink).flush is Sink.flush and not isinstance(sink, AsyncSink)
