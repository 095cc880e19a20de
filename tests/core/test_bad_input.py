"""Bad input: ``Rejected`` items a source reads, sources that isolate failures, and the error
policy from the config file."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pumpcore import (
    BlockingSource,
    ConfigError,
    Failure,
    Pipeline,
    Received,
    RejectedInputError,
    Settings,
    Source,
)
from pumpcore.common import ListSink
from pumpcore.lowlevel import Rejected


class Fed(BlockingSource):
    """A source the test feeds by hand, as an executor would after a read."""

    def __init__(self, isolate: bool = False) -> None:
        super().__init__()
        self.isolate_failures = isolate


def build(
    *steps: Any, policy: Any = "hard", isolate: bool = False
) -> tuple[Pipeline, Fed, ListSink, ListSink, list[Failure]]:
    source = Fed(isolate)
    sink, dead = ListSink(), ListSink()
    p = Pipeline("P", error_policy=policy)
    p.build(source, *steps, sink)
    p.set_dead_letter(dead)
    failures: list[Failure] = []
    p.add_failure_listener(failures.append)
    return p, source, sink, dead, failures


def fail_on(bad: Any) -> Any:
    def check(context: dict[str, Any], event: Any) -> Any:
        if event == bad:
            raise ValueError(f"bad {event!r}")
        return event

    return check


def test_rejects_are_counted_dead_lettered_reported_and_their_positions_done() -> None:
    p, source, sink, dead, failures = build()
    source.feed(
        [
            Received("a", 1),
            Rejected(b"\xff", "not utf-8", 2, {"peer": "x"}),
            Received("b", 3),
            Rejected(None, "line over 10 bytes", 4),
            Received("c", 5),
        ],
        0.0,
    )
    assert source.pump(10) == 5
    assert sink.Events == ["a", "b", "c"]
    stats = p.statistics()
    assert (stats.event_in, stats.event_out, stats.rejected, stats.dead_letter) == (3, 3, 2, 2)
    assert (stats.warning, stats.error) == (0, 0)
    assert stats.as_dict()["event.rejected"] == 2
    assert not p.is_error()  # the hard policy is not asked about rejects
    assert [f.event for f in failures] == [b"\xff", None]
    first = failures[0]
    assert (first.component_id, first.soft, first.context) == ("Fed", True, {"peer": "x"})
    assert isinstance(first.exception, RejectedInputError)
    assert first.exception.reason == "not utf-8"
    assert dead.Events == failures
    assert source.ledger.take_done() == [1, 2, 3, 4, 5]
    assert not source.has_pending()


def test_a_hard_failure_before_a_reject_leaves_the_rest_in_the_buffer() -> None:
    p, source, sink, _, _ = build(fail_on("b"))
    items: list[Received | Rejected] = [
        Received("a", 1),
        Received("b", 2),
        Rejected(b"?", "bad", 3),
        Received("c", 4),
    ]
    source.feed(items, 0.0)
    assert source.pump(10) == 2  # "b" was taken, and failed
    assert p.is_error()
    assert sink.Events == ["a"]
    assert p.statistics().rejected == 0
    assert source.ledger.take_done() == []  # the failed mark holds back its source
    p.recover()
    assert source.pump(10) == 2
    assert sink.Events == ["a", "c"]
    assert p.statistics().rejected == 1


def test_a_batch_of_rejects_only_and_max_items_cut_through_rejects() -> None:
    p, source, sink, _, _ = build()
    items: list[Received | Rejected] = [Rejected(i, "bad", i) for i in range(3)]
    source.feed([*items, Received("a", 3)], 0.0)
    assert source.pump(2) == 2
    assert p.statistics().rejected == 2
    assert source.pump(2) == 2
    assert sink.Events == ["a"]
    assert p.statistics().rejected == 3
    assert source.ledger.take_done() == [0, 1, 2, 3]


@given(
    items=st.lists(
        st.tuples(st.booleans(), st.integers(0, 9)),
        max_size=40,
    ),
    reads=st.integers(1, 7),
    batch=st.integers(1, 12),
)
def test_every_read_item_is_an_event_or_a_reject_once_and_every_position_is_done(
    items: list[tuple[bool, int]], reads: int, batch: int
) -> None:
    p, source, sink, dead, _ = build(fail_on(3), policy="soft")
    read: list[Received | Rejected] = [
        Rejected(value, "bad", i) if rejected else Received(value, i)
        for i, (rejected, value) in enumerate(items)
    ]
    for start in range(0, len(read), reads):
        source.feed(read[start : start + reads], 0.0)
        while source.has_pending():
            source.pump(batch)
    events = [v for rejected, v in items if not rejected]
    n_rejects = len(items) - len(events)
    assert sink.Events == [v for v in events if v != 3]
    s = p.statistics()
    assert s.event_in + s.event_generated == (
        s.event_out + s.event_drop + s.warning + s.error + s.event_absorbed
    )
    assert (s.event_in, s.rejected) == (len(events), n_rejects)
    assert s.dead_letter == len(dead.Events) == n_rejects + s.warning
    assert source.ledger.take_done() == list(range(len(items)))


def test_a_source_that_isolates_failures_keeps_the_hard_policy_from_stopping() -> None:
    p, source, sink, dead, failures = build(fail_on("b"), isolate=True)
    source.feed([Received("a", 1), Received("b", 2), Received("c", 3)], 0.0)
    assert source.pump(10) == 3
    assert sink.Events == ["a", "c"]
    assert not p.is_error()
    stats = p.statistics()
    assert (stats.warning, stats.error, stats.dead_letter) == (1, 0, 1)
    assert dead.Events == failures
    assert failures[0].soft
    assert source.ledger.take_done() == [1, 2, 3]


class Poller(Source):
    isolate_source_failures = True


def test_source_failures_of_a_source_that_isolates_them_are_soft_under_the_hard_policy() -> None:
    p = Pipeline("P")
    p.build([Poller(), Source(id="Other")], ListSink())
    failures: list[Failure] = []
    p.add_failure_listener(failures.append)
    assert p.report_source_failure("Poller", OSError("refused")) is True
    assert not p.is_error()
    assert p.report_source_failure("Other", OSError("refused")) is False
    assert p.is_error()
    assert p.statistics().source_error == 2
    assert [f.soft for f in failures] == [True, False]


def test_error_policy_from_the_config_file() -> None:
    settings = Settings.from_ini("[pipeline:P]\nerror_policy = soft\n")
    p = Pipeline("P", settings=settings)
    p.build([], fail_on(1), ListSink())
    assert p.process_events([1, 2]) == 2
    assert p.statistics().warning == 1
    assert not p.is_error()


def test_the_constructor_argument_wins_over_the_config_file() -> None:
    settings = Settings.from_ini("[pipeline:P]\nerror_policy = soft\n")
    p = Pipeline("P", settings=settings, error_policy="hard")
    p.build([], fail_on(1), ListSink())
    assert p.process_events([1, 2]) == 1
    assert p.is_error()
    assert Pipeline("Q", config={"error_policy": "soft"}).handle_error(ValueError(), {}, None)


def test_a_bad_error_policy_in_the_config_file_names_pipeline_and_value() -> None:
    settings = Settings.from_ini("[pipeline:Orders]\nerror_policy = lenient\n")
    with pytest.raises(ConfigError, match=r"Pipeline 'Orders'.*error_policy.*'lenient'"):
        Pipeline("Orders", settings=settings)
