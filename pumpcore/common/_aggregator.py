"""Aggregator: many events in, one aggregate out, completed by size, by timeout, by interval or
by the pipeline stopping (BSPump's ``Aggregator`` and its aggregation strategies).

Rules:
1. Time is the pipeline's (``Pipeline.time()``, the ``now`` of its latest ``tick``; 0.0 for an
   aggregator outside a pipeline). The aggregator never reads a clock: it stamps the first
   event of each buffer with that time and says, in ``next_awake``, when it wants ``on_tick``.
2. ``completion_size`` completes the buffer inside ``generate``: the aggregate continues from
   the next step with the context of the event that completed it (a Generator's outputs share
   the consumed event's context). Aggregates completed by time or by ``stop`` travel with a
   fresh ``{}`` context, as BSPump's do.
3. An empty buffer is never emitted; an aggregate is emitted once and the buffer starts over.
4. The open aggregate holds the origins of the events in it (``pumpcore/_delivery.py``): their
   positions are acknowledged only once the aggregate went on, and only theirs wait — an
   aggregate that is always open holds back the batches in it, not the whole source.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from .._component import Context, Emitted, Generator
from .._config import ConfigRule, at_least
from .._delivery import NO_ORIGIN, Held, Origin, current_origin

if TYPE_CHECKING:
    from .._pipeline import Pipeline

AggregateT = TypeVar("AggregateT")


class AggregationStrategy(ABC, Generic[AggregateT]):
    """How an ``Aggregator`` accumulates events and what one aggregate looks like.

    Subclass it for another shape of aggregate (a sum, a dict by key, a CSV block).
    """

    @abstractmethod
    def append(self, context: Context, event: Any) -> None:
        """Add one event (and its context) to the aggregate being built."""

    @abstractmethod
    def flush(self) -> AggregateT:
        """Return the aggregate built so far and start a new, empty one."""

    @abstractmethod
    def is_empty(self) -> bool:
        """True when nothing was appended since the last ``flush``."""


class ListAggregationStrategy(AggregationStrategy[list[tuple[Context, Any]]]):
    """Aggregates into a list of ``(context, event)`` pairs, the Aggregator's default.

    This is BSPump's meaning of the name: the contexts are kept, so a step after the aggregator
    can still see what each event carried. Use ``ListEventAggregationStrategy`` for the events
    alone.

    Example:
        >>> s = ListAggregationStrategy()
        >>> s.append({"n": 1}, "a")
        >>> s.flush()
        [({'n': 1}, 'a')]
    """

    def __init__(self) -> None:
        self.AggregatedEvent: list[tuple[Context, Any]] = []

    def append(self, context: Context, event: Any) -> None:
        """Add the pair ``(context, event)``."""
        self.AggregatedEvent.append((context, event))

    def flush(self) -> list[tuple[Context, Any]]:
        """Return the pairs in arrival order and start a new list."""
        result, self.AggregatedEvent = self.AggregatedEvent, []
        return result

    def is_empty(self) -> bool:
        """True when no pair is held."""
        return not self.AggregatedEvent


class ListEventAggregationStrategy(AggregationStrategy[list[Any]]):
    """Aggregates into a list of the events alone, their contexts dropped (BSPump's meaning).

    Example:
        >>> s = ListEventAggregationStrategy()
        >>> s.append({}, "a")
        >>> s.append({}, "b")
        >>> s.flush()
        ['a', 'b']
    """

    def __init__(self) -> None:
        self.AggregatedEvent: list[Any] = []

    def append(self, context: Context, event: Any) -> None:
        """Add the event."""
        self.AggregatedEvent.append(event)

    def flush(self) -> list[Any]:
        """Return the events in arrival order and start a new list."""
        result, self.AggregatedEvent = self.AggregatedEvent, []
        return result

    def is_empty(self) -> bool:
        """True when no event is held."""
        return not self.AggregatedEvent


class StringAggregationStrategy(AggregationStrategy[str]):
    """Aggregates ``str(event)`` of each event into one string, joined by ``delimiter``.

    Lines for a file or a bulk API body. Unlike BSPump, which appends the delimiter and cuts it
    off again, the parts are joined: an empty delimiter or empty events come out right.

    Args:
        delimiter: what goes between two events (default a newline); none after the last.

    Example:
        >>> s = StringAggregationStrategy(";")
        >>> for word in ("one", "two"):
        ...     s.append({}, word)
        >>> s.flush()
        'one;two'
    """

    def __init__(self, delimiter: str = "\n") -> None:
        self.Delimiter = delimiter
        self._parts: list[str] = []

    def append(self, context: Context, event: Any) -> None:
        """Add ``str(event)``."""
        self._parts.append(str(event))

    def flush(self) -> str:
        """Return the joined string and start a new one."""
        result = self.Delimiter.join(self._parts)
        self._parts = []
        return result

    def is_empty(self) -> bool:
        """True when no event is held (an empty string appended still counts as one)."""
        return not self._parts


# The Aggregator keeps BSPump's attribute name ``AggregationStrategy``, which would shadow the
# class inside its body; annotations there use this alias.
_Strategy = AggregationStrategy


class Aggregator(Generator):
    """Collects events into aggregates and emits each when it is complete.

    Batching turns a stream of small events into the few large writes that databases, files and
    bulk APIs handle well. An aggregate is complete when the first of these happens:

    - it holds ``completion_size`` events (checked in ``generate``);
    - ``completion_timeout`` seconds of pipeline time have passed since its first event;
    - the pipeline time crosses the next multiple of ``completion_interval`` (a fixed grid,
      0, interval, 2*interval..., so flushes happen "every interval" whatever the traffic);
    - the pipeline stops (``on_stop`` emits what is left).

    Timeout and interval may be combined (the earlier deadline wins); BSPump refused the
    combination, pumpcore has no reason to. Every consumed event counts as ``event.absorbed``
    and every aggregate as ``event.generated``.

    Config:
        completion_size: events per aggregate (default 10); 0 for no size limit.
        completion_timeout: seconds from an aggregate's first event to its flush; 0 for none.
        completion_interval: seconds between the grid points that flush; 0 for none.

    Args:
        aggregation_strategy: the shape of the aggregate; a new ``ListAggregationStrategy``
            (a list of ``(context, event)`` pairs, BSPump's default) when not given.

    Example:
        >>> from pumpcore import Pipeline
        >>> from pumpcore.common import ListSink
        >>> p, sink = Pipeline("P"), ListSink()
        >>> p.build([], Aggregator(config={"completion_size": 2},
        ...     aggregation_strategy=ListEventAggregationStrategy()), sink)
        >>> p.process_events(["one", "two", "three"])
        3
        >>> p.stop()
        >>> sink.Events
        [['one', 'two'], ['three']]
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "completion_size": 10,
        "completion_timeout": 0.0,
        "completion_interval": 0.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        # 0 turns each off; NaN or inf would never (or always) flush.
        "completion_size": at_least(0),
        "completion_timeout": at_least(0),
        "completion_interval": at_least(0),
    }

    AggregationStrategy: _Strategy[Any]
    CompletionSize: int
    CompletionTimeout: float
    CompletionInterval: float

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        aggregation_strategy: _Strategy[Any] | None = None,
    ) -> None:
        # Set before super().__init__, which may attach (and so read the config) already.
        # A fresh strategy per aggregator: BSPump's shared default instance mixed the buffers
        # of every aggregator built without one.
        self.AggregationStrategy = (
            ListAggregationStrategy() if aggregation_strategy is None else aggregation_strategy
        )
        self.CurrentSize = 0
        self._first_at: float | None = None
        # The origin of what the open aggregate holds (its marks are held: pumpcore/_delivery).
        self._origin: Origin = NO_ORIGIN
        self._last_origin: Origin | None = None
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        """Read the completion settings (checked by ``ConfigRules``)."""
        size = int(self.Config["completion_size"])
        timeout = float(self.Config["completion_timeout"])
        interval = float(self.Config["completion_interval"])
        self.CompletionSize = size
        self.CompletionTimeout = timeout
        self.CompletionInterval = interval

    def _time(self) -> float:
        return self.Pipeline.time() if self.Pipeline is not None else 0.0

    def _take(self, context: Context) -> list[Held]:
        """Flush the strategy into one aggregate, emitted under the origin it held; start anew."""
        origin = self._origin
        self.CurrentSize = 0
        self._first_at = None
        self._origin, self._last_origin = NO_ORIGIN, None
        return [Held(context, self.AggregationStrategy.flush(), origin)]

    def generate(self, context: Context, event: Any) -> Iterable[Any]:
        """Add the event to the buffer; return the aggregate when this event completes it.

        Returns:
            ``[aggregate]`` when the buffer reached ``completion_size``, else nothing.
        """
        stamp = self._time() if self._first_at is None else self._first_at
        self.AggregationStrategy.append(context, event)
        # Stamped only once the strategy took the event: a failed append leaves no deadline
        # behind that would flush an empty aggregate (rule 3).
        self._first_at = stamp
        self.CurrentSize += 1
        origin = current_origin()
        if origin is not self._last_origin:  # a new batch: hold its marks (once per aggregate)
            self._last_origin = origin
            self._origin = self._origin.absorb(origin)
        if 0 < self.CompletionSize <= self.CurrentSize:
            return self._take(context)
        return ()

    def next_awake(self) -> float | None:
        """The pipeline time at which the buffer is due by timeout or interval.

        Returns:
            None when nothing is buffered or neither timeout nor interval is set.
        """
        first = self._first_at
        if first is None:
            return None
        deadlines: list[float] = []
        if self.CompletionTimeout > 0:
            deadlines.append(first + self.CompletionTimeout)
        if self.CompletionInterval > 0:
            # The first grid point strictly after the first event: an event stamped exactly on
            # a grid point arrived after that point's tick had already flushed.
            step = self.CompletionInterval
            deadlines.append((math.floor(first / step) + 1) * step)
        return min(deadlines) if deadlines else None

    def on_tick(self, now: float) -> Emitted:
        """Emit the buffer as ``[({}, aggregate)]`` when it is due at ``now``; else nothing."""
        wake = self.next_awake()
        if wake is None or wake > now:
            return ()
        return self._take({})

    def on_stop(self, now: float) -> Emitted:
        """Emit what is buffered as ``[({}, aggregate)]``; nothing when the buffer is empty."""
        if self.CurrentSize == 0 and self.AggregationStrategy.is_empty():
            return ()
        return self._take({})
