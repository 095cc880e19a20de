"""Helpers for the acknowledgement tests: sources that check every acknowledgement as it comes,
durable sinks.

Tracing "derived from": every event carries its source position in its own value. A *leaf* is
``(position, path, value)``: ``path`` tells apart the events one input became (a generator's
outputs, a tee's copy), so a leaf is unique in a run; an aggregate is a list of events. A
``Tracker`` counts, per position, the leaves that are *live*: read, and neither durable (a
sink's flush returned with it) nor dropped on purpose. A position may be acknowledged only when
it and every earlier position of its source have no live leaf left.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, TypeAlias

from pumpcore import BlockingSink, BlockingSource, Received

Leaf = tuple[int, tuple[object, ...], int]
Event: TypeAlias = "Leaf | list[Event]"


def leaves(event: Event) -> list[Leaf]:
    """The leaves of an event (itself, or those of an aggregate's events)."""
    if isinstance(event, tuple):
        return [event]
    found: list[Leaf] = []
    for item in event:
        found.extend(leaves(item))
    return found


class Tracker:
    """Live leaves per position; shared by the steps (pipeline thread) and the sinks' flushes
    (worker threads), hence the lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.live: Counter[int] = Counter()

    def add(self, found: Sequence[Leaf], times: int = 1) -> None:
        """``times`` more live leaves for each of ``found`` (read, copied, generated)."""
        with self.lock:
            for leaf in found:
                self.live[leaf[0]] += times

    def done(self, found: Sequence[Leaf]) -> None:
        """The leaves are durable or were dropped on purpose."""
        self.add(found, -1)

    def not_done(self, upto: int) -> dict[int, int]:
        """Positions ``<= upto`` that still have live leaves, with how many."""
        with self.lock:
            return {p: n for p, n in self.live.items() if p <= upto and n}


class TracedSource(BlockingSource):
    """Reads ``values`` as leaves ``(position, (), value)``, ``chunk`` at most per read, and
    checks every acknowledgement: in order, without gaps from position 0, never of a position
    (or an earlier one) with a live leaf, never after ``close``. Violations are collected in
    ``violations`` (raising inside ``acknowledge`` would only be reported as a source error)."""

    def __init__(
        self, values: Sequence[int], tracker: Tracker, chunk: int = 50, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.values, self.tracker, self.chunk = list(values), tracker, chunk
        self.next = 0
        self.acked: list[int] = []
        self.violations: list[str] = []
        self.closed = False

    def read(self, max_items: int) -> Sequence[Received] | None:
        if self.next >= len(self.values):
            return None
        stop = min(len(self.values), self.next + min(self.chunk, max_items))
        items = [Received((i, (), self.values[i]), position=i) for i in range(self.next, stop)]
        self.tracker.add([item.event for item in items])
        self.next = stop
        return items

    def acknowledge(self, positions: Sequence[Any]) -> None:
        check_acknowledgement(self, positions, self.tracker)

    def close(self) -> None:
        self.closed = True


def check_acknowledgement(
    source: TracedSource | EndlessSource, positions: Sequence[Any], tracker: Tracker | None
) -> None:
    """The checks of every acknowledgement (see ``TracedSource``), then record it."""
    positions = list(positions)
    first = len(source.acked)
    if source.closed:
        source.violations.append(f"acknowledged {positions} after close")
    if positions != list(range(first, first + len(positions))):
        source.violations.append(f"after {first} positions, acknowledged {positions}")
    if tracker is not None and positions:
        live = tracker.not_done(max(positions))
        if live:
            source.violations.append(f"acknowledged up to {max(positions)} with live {live}")
    source.acked.extend(positions)


class EndlessSource(BlockingSource):
    """Reads ``chunk`` ints (position == event) per read, until ``limit`` (None: forever), and
    records each acknowledgement with the monotonic time it came at."""

    def __init__(self, chunk: int = 64, limit: int | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.chunk, self.limit = chunk, limit
        self.next = 0
        self.acked: list[int] = []
        self.ack_times: list[float] = []
        self.violations: list[str] = []
        self.closed = False
        self.last_read_at = 0.0

    def read(self, max_items: int) -> Sequence[Received] | None:
        end = self.next + min(self.chunk, max_items)
        if self.limit is not None:
            if self.next >= self.limit:
                return None
            end = min(end, self.limit)
        items = [Received(i, position=i) for i in range(self.next, end)]
        self.next = end
        self.last_read_at = time.monotonic()
        return items

    def acknowledge(self, positions: Sequence[Any]) -> None:
        check_acknowledgement(self, positions, None)
        self.ack_times.append(time.monotonic())

    def close(self) -> None:
        self.closed = True

    def acks_before(self, moment: float) -> int:
        """How many acknowledgements came before ``moment`` (monotonic)."""
        return sum(1 for t in self.ack_times if t < moment)


class DurableSink(BlockingSink):
    """Buffers in ``process``; ``flush`` makes the buffer durable (telling the tracker) or, on
    the flushes numbered in ``fail_on``, loses it and raises (a refused bulk write)."""

    def __init__(
        self,
        tracker: Tracker | None = None,
        fail_on: frozenset[int] = frozenset(),
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.tracker, self.fail_on = tracker, fail_on
        self.lock = threading.Lock()
        self.buffer: list[Any] = []
        self.durable: list[Any] = []
        self.flushes = 0
        self.failed_flushes = 0
        self.closed = 0

    def process(self, context: dict[str, Any], event: Any) -> None:
        with self.lock:
            self.buffer.append(event)

    def flush(self) -> None:
        with self.lock:
            self.flushes += 1
            batch, self.buffer = self.buffer, []
            if self.flushes in self.fail_on:
                self.failed_flushes += 1
                raise ConnectionError(f"flush {self.flushes} refused")
            self.durable.extend(batch)
        if self.tracker is not None:
            self.tracker.done([leaf for event in batch for leaf in leaves(event)])

    def close(self) -> None:
        self.closed += 1
