"""Delivery: which source positions are done, per source, by completed prefix.

A source's position (a Kafka offset, an AMQP delivery tag, a file offset) may be acknowledged
only once every event derived from it was written by a sink (a flush returned), dropped on
purpose, or dead-lettered. Tracking that per event would cost an object per event; tracking it
per run (acknowledge only when everything is idle) stalls commits under load. So it is tracked
per *batch*: each ``pump`` of a source makes one ``Mark`` holding the positions it took, and
the mark is the unit of acknowledgement.

Rules:
1. While a batch is processed, its origin — ``(mark,)`` — is the *current origin*
   (``current_origin()``). An event that runs to its end synchronously (reaches a sink's buffer,
   is dropped, is dead-lettered) needs no bookkeeping at all: the hot path pays nothing.
2. A component that keeps an event beyond the call that gave it (an async or blocking step in
   flight, an open aggregate, a queue to another pipeline) *holds* the current origin
   (``hold()``) and *releases* it once the event went on (``Origin.release``). An event
   re-entering a pipeline later runs under the origin it was held with (``running(origin)``),
   so what it derives is held, and fails, against the right marks.
3. A hard failure, and an event abandoned at stop, *fail* the marks of its origin: they are
   never acknowledged, and neither is anything after them from the same source (cumulative
   commits would acknowledge the failed position too). Other sources go on.
4. A source acknowledges the longest prefix of its marks that are neither held nor failed, after
   every sink was flushed (``Ledger.take_done`` is called before the flush, so that what it
   returns had reached the sinks' buffers before the flush began).
5. Marks are conservative by at most a batch: an event held makes its whole batch wait; a
   restart replays at most what was not acknowledged.
6. An event application code puts and waits for (``InternalSource.put_async(..., wait=True)``)
   gets a mark of its own, a ``Receipt``, added to its origin: it is done like any mark (rule 4)
   and *committed* by the first commit after that whose flushes all succeeded, or failed (rule
   3, or a flush of that commit failed). Only such puts pay for it.

Composite origins (an aggregate made of events of several batches, or several sources) are
tuples of marks; holding or failing one touches each mark.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from ._component import Context, Source


class Mark:
    """The positions of one batch a source handed to its pipeline (rule 4's unit).

    Attributes:
        source: the source the batch came from.
        positions: the positions taken, in read order (events without a position left out).
        holds: how many kept events still derive from this batch (rule 2).
        failed: True once an event derived from it failed hard or was abandoned (rule 3).
    """

    __slots__ = ("failed", "holds", "positions", "source")

    def __init__(self, source: Source, positions: Sequence[Any]) -> None:
        self.source = source
        self.positions = positions
        self.holds = 0
        self.failed = False

    def __repr__(self) -> str:
        return (
            f"<Mark of {self.source.Id!r}: {len(self.positions)} positions, holds={self.holds}, "
            f"failed={self.failed}>"
        )


class Receipt(Mark):
    """The mark of one event application code waits for (rule 6): no positions; ``committed``
    once a commit took it done and every flush of that commit succeeded.

    Attributes:
        committed: True once the event is durable (or was dropped on purpose, or dead-lettered).
    """

    __slots__ = ("committed",)

    def __init__(self, source: Source) -> None:
        super().__init__(source, [])
        self.committed = False

    @property
    def done(self) -> bool:
        """True when a commit may take it: nothing derived from it is kept, nothing failed."""
        return not (self.holds or self.failed or self.committed)


class Origin(tuple[Mark, ...]):
    """What an event derives from: the marks of the batches its inputs came in (rule 2).

    The empty origin (``NO_ORIGIN``) is that of events with nothing to acknowledge: read from an
    in-memory source, made by a trigger, or put by application code.
    """

    __slots__ = ()

    def hold(self) -> Origin:
        """Hold every mark once more (a component keeps an event derived from them)."""
        for mark in self:
            mark.holds += 1
        return self

    def release(self, times: int = 1) -> None:
        """The kept event went on (reached a sink's buffer, was dropped or dead-lettered)."""
        for mark in self:
            mark.holds -= times

    def fail(self) -> None:
        """An event derived from these marks failed hard or was abandoned (rule 3)."""
        for mark in self:
            mark.failed = True

    def absorb(self, other: Origin) -> Origin:
        """This origin with ``other``'s marks added, holding the ones it did not have: what an
        aggregate keeps as it takes in events of other batches (each mark held once)."""
        if not other or other is self:
            return self
        new = tuple(mark for mark in other if mark not in self)
        for mark in new:
            mark.holds += 1
        return Origin((*self, *new)) if new else self


NO_ORIGIN = Origin()


class Held(NamedTuple):
    """An event a component kept and now emits, with the origin it held for it (rule 2).

    A generator may yield it among its outputs, and ``on_tick``/``on_stop`` may return it among
    their ``(context, event)`` pairs: the pipeline runs the event under ``origin`` (so a hard
    failure fails those marks) and releases ``origin`` once it went on.
    """

    context: Context
    event: Any
    origin: Origin


_current: ContextVar[Origin] = ContextVar("pumpcore_origin", default=NO_ORIGIN)


def current_origin() -> Origin:
    """The origin of the event being processed now (``NO_ORIGIN`` outside a batch)."""
    return _current.get()


def hold() -> Origin:
    """Hold the current origin: the caller keeps the event being processed (rule 2).

    Returns:
        The origin to ``release`` (or to run the event under again, ``running``) later.
    """
    return _current.get().hold()


@contextmanager
def running(origin: Origin) -> Iterator[None]:
    """Make ``origin`` the current origin for the block (an event kept earlier runs again)."""
    token = _current.set(origin)
    try:
        yield
    finally:
        _current.reset(token)


class Ledger:
    """One source's marks in read order, and what of them is done (rules 3-4)."""

    __slots__ = ("_marks", "last_taken", "poisoned", "source", "taken")

    def __init__(self, source: Source) -> None:
        self.source = source
        self._marks: deque[Mark] = deque()
        #: Positions commits took so far, and the last of them (what monitoring shows as the
        #: source's commit position; each is acknowledged once its commit's flushes succeeded).
        self.taken = 0
        self.last_taken: Any = None
        #: True once a write that may concern this source failed: nothing more is acknowledged
        #: in this run (its events may be lost from a sink's buffer).
        self.poisoned = False

    def open_mark(self, positions: Sequence[Any]) -> Mark:
        """A new batch is about to be processed; it is recorded in read order."""
        mark = Mark(self.source, positions)
        self._marks.append(mark)
        return mark

    def take_done(self) -> list[Any]:
        """Pop the marks done so far (not held, not failed) from the front; their positions.

        Call it before flushing the sinks, and acknowledge what it returned only after every
        flush succeeded.
        """
        done: list[Any] = []
        marks = self._marks
        if self.poisoned:
            return done
        while marks:
            mark = marks[0]
            if mark.holds or mark.failed:
                break
            marks.popleft()
            done.extend(mark.positions)
        if done:
            self.taken += len(done)
            self.last_taken = done[-1]
        return done

    def blocked_by(self) -> Mark | None:
        """The first mark that is not done (held or failed), None when all are."""
        for mark in self._marks:
            if mark.holds or mark.failed:
                return mark
        return None

    def pending(self) -> int:
        """How many positions wait for acknowledgement (done or not)."""
        return sum(len(m.positions) for m in self._marks)

    def failed(self) -> bool:
        """True when a mark failed: nothing from it on will be acknowledged in this run."""
        return any(m.failed for m in self._marks)
