"""The Aggregator: completion by size, timeout, interval and stop, with pipeline time as input."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pumpcore import BlockingSource, ConfigError, Pipeline, Received, Settings
from pumpcore.common import (
    AggregationStrategy,
    Aggregator,
    ListAggregationStrategy,
    ListEventAggregationStrategy,
    ListSink,
    StringAggregationStrategy,
)
from pumpcore.lowlevel import NO_ORIGIN, Held


def events_aggregator(**config: Any) -> Aggregator:
    """An aggregator whose aggregates are plain lists of events."""
    return Aggregator(config=config, aggregation_strategy=ListEventAggregationStrategy())


def build(*steps: Any, settings: Settings | None = None) -> tuple[Pipeline, ListSink]:
    pipeline = Pipeline("P", settings=settings)
    sink = ListSink(keep_contexts=True)
    pipeline.build([], *steps, sink)
    return pipeline, sink


def balanced(pipeline: Pipeline) -> bool:
    """Rule 2 of the pipeline: every event entered or generated is accounted for once."""
    s = pipeline.statistics()
    return s.event_in + s.event_generated == (
        s.event_out + s.event_drop + s.failed + s.event_absorbed
    )


# ---------------------------------------------------------------- completion by size


def test_size_5_over_10_events_gives_two_lists_of_5() -> None:
    pipeline, sink = build(events_aggregator(completion_size=5))
    assert pipeline.process_events(list(range(10))) == 10
    assert sink.Events == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    s = pipeline.statistics()
    assert (s.event_in, s.event_absorbed, s.event_generated, s.event_out, s.event_drop) == (
        10,
        10,
        2,
        2,
        0,
    )
    pipeline.stop(0.0)
    assert len(sink.Events) == 2  # nothing left to flush: no empty aggregate


def test_size_2_over_3_events_flushes_the_rest_on_stop() -> None:
    pipeline, sink = build(events_aggregator(completion_size=2))
    pipeline.process_events(["one", "two", "three"])
    assert sink.Events == [["one", "two"]]
    pipeline.stop(7.0)
    assert sink.Events == [["one", "two"], ["three"]]
    assert pipeline.statistics().event_generated == 2
    assert pipeline.statistics().event_out == 2
    assert balanced(pipeline)
    assert pipeline.process_events(["four"]) == 0  # stopped: takes nothing more


def test_string_strategy_joins_with_the_delimiter() -> None:
    aggregator = Aggregator(
        config={"completion_size": 3}, aggregation_strategy=StringAggregationStrategy(";")
    )
    pipeline, sink = build(aggregator)
    pipeline.process_events(["one", "two", "three"])
    assert sink.Events == ["one;two;three"]


def test_string_strategy_default_delimiter_and_non_string_events() -> None:
    aggregator = Aggregator(
        config={"completion_size": 2}, aggregation_strategy=StringAggregationStrategy()
    )
    pipeline, sink = build(aggregator)
    pipeline.process_events([1, None])
    assert sink.Events == ["1\nNone"]


def test_string_strategy_with_empty_delimiter_and_empty_events() -> None:
    strategy = StringAggregationStrategy("")
    assert strategy.is_empty()
    strategy.append({}, "a")
    strategy.append({}, "bc")
    assert strategy.flush() == "abc"
    strategy.append({}, "")
    assert not strategy.is_empty()  # an empty event is still an event
    strategy.append({}, "")
    assert strategy.flush() == ""
    assert strategy.is_empty()


def test_default_strategy_keeps_context_event_pairs_like_bspump() -> None:
    pipeline, sink = build(Aggregator(config={"completion_size": 2}))
    pipeline.process_pairs([({"n": 1}, "a"), ({"n": 2}, "b")])
    assert sink.Events == [[({"n": 1}, "a"), ({"n": 2}, "b")]]


def test_each_aggregator_gets_its_own_default_strategy() -> None:
    first, second = Aggregator(id="A1"), Aggregator(id="A2")
    assert first.AggregationStrategy is not second.AggregationStrategy
    assert isinstance(first.AggregationStrategy, ListAggregationStrategy)


def test_size_zero_means_no_size_limit() -> None:
    pipeline, sink = build(events_aggregator(completion_size=0))
    pipeline.process_events(list(range(100)))
    assert sink.Events == []
    pipeline.stop()
    assert sink.Events == [list(range(100))]


def test_size_completed_aggregate_keeps_the_completing_events_context() -> None:
    pipeline, sink = build(events_aggregator(completion_size=2, completion_timeout=5))
    pipeline.process_pairs([({"n": 1}, "a"), ({"n": 2}, "b"), ({"n": 3}, "c")])
    pipeline.tick(5.0)
    assert sink.Events == [["a", "b"], ["c"]]
    # By size: the completing event's context. By time (and on stop): a fresh one.
    assert sink.Contexts == [{"n": 2}, {}]


# ---------------------------------------------------------------- completion by time


def test_timeout_from_the_first_buffered_event() -> None:
    aggregator = events_aggregator(completion_size=0, completion_timeout=5)
    pipeline, sink = build(aggregator)
    assert aggregator.next_awake() is None  # nothing buffered
    pipeline.tick(0.0)
    pipeline.process_events(["a", "b"])
    assert aggregator.next_awake() == 5
    assert pipeline.next_awake() == 5
    pipeline.tick(4.0)
    assert sink.Events == []
    pipeline.tick(5.0)
    assert sink.Events == [["a", "b"]]
    assert aggregator.next_awake() is None
    s = pipeline.statistics()
    assert (s.event_in, s.event_absorbed, s.event_generated, s.event_out) == (2, 2, 1, 1)


def test_timeout_is_stamped_with_pipeline_time() -> None:
    aggregator = events_aggregator(completion_timeout=2.5)
    pipeline, sink = build(aggregator)
    pipeline.tick(100.0)
    pipeline.process_events(["a"])
    pipeline.tick(101.0)
    pipeline.process_events(["b"])  # joins the buffer: the timeout runs from "a"
    assert aggregator.next_awake() == 102.5
    pipeline.tick(102.4)
    assert sink.Events == []
    pipeline.tick(103.0)
    assert sink.Events == [["a", "b"]]


def test_a_size_flush_restarts_the_timeout() -> None:
    aggregator = events_aggregator(completion_size=2, completion_timeout=5)
    pipeline, sink = build(aggregator)
    pipeline.process_events(["a", "b"])
    assert aggregator.next_awake() is None
    pipeline.tick(3.0)
    pipeline.process_events(["c"])
    assert aggregator.next_awake() == 8.0
    pipeline.tick(7.9)
    pipeline.tick(8.0)
    assert sink.Events == [["a", "b"], ["c"]]


def test_without_timeout_or_interval_the_aggregator_never_wants_a_tick() -> None:
    aggregator = events_aggregator(completion_size=10)
    pipeline, sink = build(aggregator)
    pipeline.process_events(["a"])
    assert aggregator.next_awake() is None
    assert list(aggregator.on_tick(1e9)) == []
    assert sink.Events == []


def test_on_tick_before_the_deadline_emits_nothing() -> None:
    aggregator = events_aggregator(completion_timeout=5)
    aggregator.generate({}, "a")  # outside a pipeline: stamped at 0.0
    assert aggregator.next_awake() == 5.0
    assert list(aggregator.on_tick(4.99)) == []
    assert list(aggregator.on_tick(5.0)) == [Held({}, ["a"], NO_ORIGIN)]
    assert list(aggregator.on_tick(10.0)) == []


def test_interval_flushes_on_a_fixed_grid_of_pipeline_time() -> None:
    aggregator = events_aggregator(completion_size=0, completion_interval=10)
    pipeline, sink = build(aggregator)
    pipeline.tick(3.0)
    pipeline.process_events(["a"])
    assert aggregator.next_awake() == 10.0
    pipeline.tick(9.0)
    pipeline.process_events(["b"])
    pipeline.tick(10.0)
    assert sink.Events == [["a", "b"]]
    pipeline.process_events(["c"])  # stamped 10.0: the 10.0 flush has happened already
    assert aggregator.next_awake() == 20.0
    pipeline.tick(25.0)
    pipeline.process_events(["d"])
    assert aggregator.next_awake() == 30.0
    pipeline.tick(30.0)
    assert sink.Events == [["a", "b"], ["c"], ["d"]]


def test_interval_waits_for_an_event_before_flushing() -> None:
    aggregator = events_aggregator(completion_interval=10)
    pipeline, sink = build(aggregator)
    for now in (10.0, 20.0, 30.0):
        pipeline.tick(now)
    assert aggregator.next_awake() is None
    assert sink.Events == []
    assert pipeline.statistics().event_generated == 0


def test_timeout_and_interval_combined_the_earlier_wins() -> None:
    aggregator = events_aggregator(completion_timeout=4, completion_interval=10)
    pipeline, sink = build(aggregator)
    pipeline.tick(1.0)
    pipeline.process_events(["a"])
    assert aggregator.next_awake() == 5.0  # timeout 1 + 4 before grid point 10
    pipeline.tick(5.0)
    pipeline.tick(8.0)
    pipeline.process_events(["b"])
    assert aggregator.next_awake() == 10.0  # grid point 10 before timeout 8 + 4
    pipeline.tick(10.0)
    assert sink.Events == [["a"], ["b"]]


def test_stop_with_nothing_buffered_emits_nothing() -> None:
    pipeline, sink = build(events_aggregator(completion_size=2))
    pipeline.process_events(["a", "b"])
    pipeline.stop(1.0)
    assert sink.Events == [["a", "b"]]
    assert pipeline.statistics().event_generated == 1


def test_stop_flushes_upstream_aggregators_into_downstream_ones_first() -> None:
    first = events_aggregator(completion_size=2)
    first.Id = "First"
    second = Aggregator(
        id="Second",
        config={"completion_size": 2},
        aggregation_strategy=ListEventAggregationStrategy(),
    )
    pipeline, sink = build(first, second)
    pipeline.process_events([1, 2, 3])
    assert sink.Events == []
    pipeline.stop()
    # First's partial [3] reaches Second, which completes by size; Second then holds nothing.
    assert sink.Events == [[[1, 2], [3]]]
    assert balanced(pipeline)


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("completion_size", -1),
        ("completion_timeout", -0.5),
        ("completion_interval", float("nan")),
        ("completion_timeout", float("inf")),
        ("completion_size", "ten"),
    ],
)
def test_bad_completion_settings_are_config_errors(key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=key):
        Aggregator(config={key: value})


def test_completion_settings_come_from_the_ini_section() -> None:
    settings = Settings.from_ini(
        "[pipeline:P:Aggregator]\ncompletion_size = 3\ncompletion_timeout = 1.5\n"
    )
    aggregator = Aggregator(aggregation_strategy=ListEventAggregationStrategy())
    pipeline, sink = build(aggregator, settings=settings)
    assert (aggregator.CompletionSize, aggregator.CompletionTimeout) == (3, 1.5)
    pipeline.process_events([1, 2, 3, 4])
    assert sink.Events == [[1, 2, 3]]
    assert aggregator.next_awake() == 1.5


def test_bad_ini_value_is_a_config_error_at_attach() -> None:
    settings = Settings.from_ini("[pipeline:P:Aggregator]\ncompletion_interval = -1\n")
    with pytest.raises(ConfigError, match="completion_interval"):
        build(Aggregator(), settings=settings)


class SumStrategy(AggregationStrategy[int]):
    """A custom strategy: the aggregate is the sum of the events."""

    def __init__(self) -> None:
        self.total: int | None = None

    def append(self, context: dict[str, Any], event: Any) -> None:
        self.total = (self.total or 0) + int(event)

    def flush(self) -> int:
        result, self.total = self.total or 0, None
        return result

    def is_empty(self) -> bool:
        return self.total is None


def test_a_custom_strategy() -> None:
    aggregator = Aggregator(config={"completion_size": 3}, aggregation_strategy=SumStrategy())
    pipeline, sink = build(aggregator)
    pipeline.process_events([1, 2, 3, 10, 20])
    pipeline.stop()
    assert sink.Events == [6, 30]


def test_the_strategy_base_is_abstract() -> None:
    with pytest.raises(TypeError, match="abstract"):
        AggregationStrategy()  # type: ignore[abstract]


# ---------------------------------------------------------------- properties


@given(st.integers(1, 7), st.lists(st.integers(), max_size=40))
def test_size_k_over_n_events_gives_ceil_n_over_k_aggregates_in_order(
    k: int, events: list[int]
) -> None:
    pipeline, sink = build(events_aggregator(completion_size=k))
    pipeline.process_events(events)
    pipeline.stop()
    assert len(sink.Events) == math.ceil(len(events) / k)
    assert [x for aggregate in sink.Events for x in aggregate] == events
    assert all(len(aggregate) == k for aggregate in sink.Events[:-1])
    assert all(aggregate for aggregate in sink.Events)
    assert balanced(pipeline)


@given(
    st.floats(0.5, 10.0),
    st.integers(0, 5),
    st.lists(st.floats(0.0, 5.0), max_size=30),
)
def test_timeout_aggregates_span_less_than_the_timeout(
    timeout: float, size: int, gaps: list[float]
) -> None:
    # Events arrive at increasing times; the executor ticks before each batch, as drivers do.
    aggregator = events_aggregator(completion_size=size, completion_timeout=timeout)
    pipeline, sink = build(aggregator)
    now, stamped = 0.0, []
    for index, gap in enumerate(gaps):
        now += gap
        pipeline.tick(now)
        pipeline.process_events([(index, now)])
        stamped.append((index, now))
        wake = aggregator.next_awake()
        assert wake is None or wake > now  # never overdue right after a tick
    pipeline.stop(now)
    assert [x for aggregate in sink.Events for x in aggregate] == stamped
    for aggregate in sink.Events:
        times = [t for _, t in aggregate]
        assert max(times) - min(times) < timeout
        if size:
            assert len(aggregate) <= size
    assert balanced(pipeline)


class PickyStrategy(ListEventAggregationStrategy):
    """Refuses negative events, as a strategy validating its input would."""

    def append(self, context: dict[str, Any], event: Any) -> None:
        if event < 0:
            raise ValueError(f"negative: {event}")
        super().append(context, event)


def test_a_failed_append_leaves_no_deadline_and_no_empty_aggregate() -> None:
    aggregator = Aggregator(config={"completion_timeout": 5}, aggregation_strategy=PickyStrategy())
    pipeline = Pipeline("P", error_policy="soft")
    sink = ListSink()
    pipeline.build([], aggregator, sink)
    pipeline.process_events([-1])
    assert pipeline.statistics().warning == 1
    assert aggregator.next_awake() is None
    pipeline.tick(10.0)
    pipeline.process_events([1, -2])
    assert aggregator.next_awake() == 15.0
    pipeline.stop(20.0)
    assert sink.Events == [[1]]
    assert balanced(pipeline)


def test_an_open_aggregate_holds_back_only_the_batches_in_it() -> None:
    aggregator = Aggregator(
        aggregation_strategy=ListEventAggregationStrategy(), config={"completion_size": 3}
    )
    source, sink = Positions(), ListSink()
    p = Pipeline("P")
    p.build(source, aggregator, sink)
    source.feed([Received("a", position=1), Received("b", position=2)], 0.0)
    assert source.pump(1) == 1  # batch 1 opens the aggregate
    assert source.ledger.take_done() == []
    assert source.pump(1) == 1  # batch 2 joins it
    assert source.ledger.take_done() == []
    source.feed([Received("c", position=3), Received("d", position=4)], 0.0)
    assert source.pump(1) == 1  # batch 3 completes it: all three went on
    assert sink.Events == [["a", "b", "c"]]
    assert source.ledger.take_done() == [1, 2, 3]
    assert source.pump(1) == 1  # "d" opens the next aggregate
    assert source.ledger.take_done() == []
    p.stop(1.0)
    assert sink.Events == [["a", "b", "c"], ["d"]]
    assert source.ledger.take_done() == [4]


def test_an_aggregate_that_fails_hard_fails_every_batch_in_it() -> None:
    def refuse(context: dict[str, Any], event: Any) -> Any:
        raise ValueError("refused")

    aggregator = Aggregator(
        aggregation_strategy=ListEventAggregationStrategy(), config={"completion_size": 2}
    )
    source = Positions()
    p = Pipeline("P")
    p.build(source, aggregator, refuse, ListSink())
    source.feed([Received("a", position=1), Received("b", position=2)], 0.0)
    assert source.pump(1) == 1
    assert source.pump(1) == 1  # completes the aggregate, which fails hard
    assert p.is_error()
    assert source.ledger.take_done() == []
    assert source.poisoned


class Positions(BlockingSource):
    """A source fed by hand (``feed``) whose ledger the tests read."""
