"""Delivery bookkeeping, scripted and pure: marks, holds, failures and poisoning
(``pumpcore/_delivery.py``). The executors' side is ``tests/executors/test_ack_properties.py``."""

from __future__ import annotations

from typing import Any

import pytest

from pumpcore import BlockingSource, ConfigError, Pipeline, Processor, Received, Sink
from pumpcore.common import InternalSource, ListSink, RouterSink
from pumpcore.lowlevel import Batch, Driver, Held, Origin, Rejected, hold


class Hand(BlockingSource):
    """A source fed by hand (``feed``), whose ledger the tests read."""


def fed(source: Hand, *positions: int) -> Hand:
    source.feed(Batch(list(positions), list(positions)), 0.0)
    return source


class Keep(Processor):
    """Keeps every event (holding its origin) until ``give_back``."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: list[Held] = []

    def process(self, context: dict[str, Any], event: Any) -> None:
        self.kept.append(Held(context, event, hold()))

    def on_stop(self, now: float) -> list[Held]:
        kept, self.kept = self.kept, []
        return kept


def test_positions_are_done_by_completed_prefix_of_batches() -> None:
    source, keep, sink = Hand(), Keep(), ListSink()
    p = Pipeline("P")
    p.build(source, lambda c, e: e if e != 2 else keep.process(c, e), sink)
    fed(source, 1, 2, 3, 4)
    assert source.pump(2) == 2  # batch [1, 2]: 2 is kept
    assert source.pump(2) == 2  # batch [3, 4]: done, but behind a held batch
    assert source.ledger.take_done() == []
    keep.kept[0].origin.release()  # 2 went on
    assert source.ledger.take_done() == [1, 2, 3, 4]
    assert source.ledger.take_done() == []


def test_a_hard_failure_holds_back_its_own_source_only() -> None:
    def fail_on_13(context: dict[str, Any], event: int) -> int:
        if event == 13:
            raise ValueError("13")
        return event

    bad, good = Hand(), Hand()
    p, q = Pipeline("P"), Pipeline("Q")
    p.build(bad, fail_on_13, ListSink())
    q.build(good, ListSink())
    fed(bad, 11, 12, 13, 14)
    fed(good, 21, 22)
    assert bad.pump(2) == 2
    assert bad.pump(2) == 1  # 13 failed hard: the pipeline stopped taking
    assert good.pump(10) == 2
    assert bad.ledger.take_done() == [11, 12]  # the batch before the failure
    assert bad.poisoned
    assert good.ledger.take_done() == [21, 22]
    assert not good.poisoned


def test_a_routed_event_holds_its_feeder_until_the_child_took_it() -> None:
    class Route(RouterSink):
        def process(self, context: dict[str, Any], event: Any) -> None:
            self.route(context, event, "Child.InternalSource")

    source, sink = Hand(), ListSink()
    parent, child = Pipeline("Parent"), Pipeline("Child")
    parent.build(source, Route())
    queue = InternalSource()
    child.build(queue, sink)
    driver = Driver([parent, child])  # one Pump, so the router finds the child
    assert driver.pipelines == (parent, child)
    fed(source, 1, 2)
    assert source.pump(10) == 2
    assert source.ledger.take_done() == []  # queued in the child: not done
    assert queue.pump(10) == 2
    assert sink.Events == [1, 2]
    assert source.ledger.take_done() == [1, 2]


def test_held_events_emitted_at_stop_fail_their_marks_when_they_fail_hard() -> None:
    def refuse(context: dict[str, Any], event: Any) -> Any:
        raise ValueError("refused")

    source, keep = Hand(), Keep()
    p = Pipeline("P")
    p.build(source, keep, refuse, ListSink())
    fed(source, 1, 2)
    assert source.pump(1) == 1
    assert source.pump(1) == 1
    p.stop(1.0)  # both kept events go on under their own origins, and fail
    assert p.is_error()
    assert source.ledger.take_done() == []
    assert source.poisoned


def test_a_reject_whose_dead_letter_fails_is_counted_and_never_acknowledged() -> None:
    class Refusing(Sink):
        def process(self, context: dict[str, Any], event: Any) -> None:
            raise OSError("dead-letter store is down")

    source, sink = Hand(), ListSink()
    p = Pipeline("P")
    p.build(source, sink)
    p.set_dead_letter(Refusing())
    source.feed([Received("ok", 1), Rejected(b"\xff", "not utf-8", 2), Received("ok", 3)], 0.0)
    assert source.pump(10) == 3  # nothing escapes into the batch
    stats = p.statistics()
    assert (stats.event_out, stats.rejected, stats.dead_letter_error) == (2, 1, 1)
    assert source.ledger.take_done() == [1]  # the reject's mark failed: nothing from it on
    assert source.poisoned


def test_a_shared_dead_letter_sink_that_fails_poisons_every_pipeline_it_serves() -> None:
    dead = ListSink()
    a, b, other = Hand(id="A"), Hand(id="B"), Hand(id="O")
    p, q, r = Pipeline("P"), Pipeline("Q"), Pipeline("R")
    p.build(a, ListSink())
    q.build(b, ListSink())
    r.build(other, ListSink())
    p.set_dead_letter(dead)
    q.set_dead_letter(dead)
    driver = Driver([p, q, r])
    assert [s for _, s in driver.sinks()].count(dead) == 1  # flushed once
    driver.flush_failed(dead)
    assert a.ledger.poisoned
    assert b.ledger.poisoned
    assert not other.ledger.poisoned


def test_origins_absorb_each_mark_once() -> None:
    source = Hand()
    p = Pipeline("P")
    p.build(source, ListSink())
    first = source.ledger.open_mark([1])
    second = source.ledger.open_mark([2])
    origin = Origin((first,)).absorb(Origin((first, second)))
    assert list(origin) == [first, second]
    assert (first.holds, second.holds) == (0, 1)  # only the mark it did not have yet


def test_commit_every_below_one_is_refused() -> None:
    p = Pipeline("P")
    p.build(Hand(), ListSink())
    with pytest.raises(ConfigError, match="commit_every"):
        Driver([p], commit_every=0)
