"""Routing between pipelines: Internal, Direct, Router, Tee."""

from __future__ import annotations

from typing import Any

import pytest

from pumpcore import ConfigError, Pipeline, PipelineStoppedError, Pump, QueueFullError
from pumpcore.common import (
    DirectSource,
    InternalSource,
    ListSink,
    RouterProcessor,
    TeeProcessor,
    TeeSource,
)


class EvenOdd(RouterProcessor):
    def process(self, context: dict[str, Any], event: int) -> None:
        self.route(context, event, "Even.InternalSource" if event % 2 == 0 else "Odd.DirectSource")
        return


def test_router_processor_dispatches_by_address_and_links_pipelines() -> None:
    main, even, odd = Pipeline("Main"), Pipeline("Even"), Pipeline("Odd")
    even_sink, odd_sink = ListSink(), ListSink()
    even.build(InternalSource(), even_sink)
    odd.build(DirectSource(), odd_sink)
    main.build([], EvenOdd(), ListSink())
    Pump([main, even, odd])
    main.process_events([1, 2, 3, 4])
    assert odd_sink.Events == [1, 3]  # DirectSource processes at once
    assert even_sink.Events == []  # InternalSource waits to be pumped
    source = even.locate_source("InternalSource")
    assert isinstance(source, InternalSource)
    assert source.pump(10) == 2
    assert even_sink.Events == [2, 4]
    even.throttle("x", True)  # linked on first route: the child's throttling reaches main
    assert not main.is_ready()
    even.throttle("x", False)
    assert main.is_ready()
    # Every routed event was dropped from Main's point of view, on purpose and counted.
    assert main.statistics().event_drop == 4


def test_router_without_a_pump_says_how_to_fix_it() -> None:
    main = Pipeline("Main", error_policy="soft")
    main.build([], EvenOdd(), ListSink())
    main.process_events([1])
    failure = main.statistics()
    assert failure.warning == 1


def test_unknown_address_is_a_config_error() -> None:
    main = Pipeline("Main")
    router = EvenOdd(main)
    Pump([main])
    with pytest.raises(ConfigError, match=r"no source at 'Nope.X'"):
        router.locate("Nope.X")


def test_tee_copies_events_and_passes_them_on() -> None:
    main, tee = Pipeline("Main"), Pipeline("SampleTeePipeline")
    main_sink, tee_sink = ListSink(), ListSink()
    tee.build(TeeSource(), tee_sink)
    main.build([], TeeProcessor().bind("SampleTeePipeline.*TeeSource"), main_sink)
    Pump([main, tee])
    event = {"a": [1]}
    main.process_events([event])
    source = tee.locate_source("TeeSource")
    assert isinstance(source, TeeSource)
    source.pump(10)
    assert main_sink.Events == [event]
    assert tee_sink.Events == [event]
    assert tee_sink.Events[0] is not event  # a deep copy: the pipelines cannot interfere
    assert tee_sink.Events[0]["a"] is not event["a"]


def test_internal_source_put_raises_when_full_and_throttles_ancestors_at_threshold() -> None:
    parent, child = Pipeline("Parent"), Pipeline("Child")
    source = InternalSource(config={"queue_max_size": 4, "backpressure_threshold": 2})
    child.build(source, ListSink())
    child.link(parent)
    source.put({}, 1)
    assert parent.is_ready()
    source.put({}, 2)
    assert not parent.is_ready()
    assert child.is_ready()
    source.put({}, 3)
    source.put({}, 4)
    with pytest.raises(QueueFullError, match=r"Child.InternalSource.*full"):
        source.put({}, 5)
    source.pump(3)
    assert parent.is_ready()


def test_internal_source_limits_are_validated() -> None:
    with pytest.raises(ConfigError, match="queue_max_size must be >= 1"):
        InternalSource(config={"queue_max_size": 0})
    with pytest.raises(ConfigError, match="exceeds queue_max_size"):
        InternalSource(config={"queue_max_size": 2, "backpressure_threshold": 3})


def test_put_on_a_stopped_pipeline_raises_but_a_hard_error_only_queues() -> None:
    source = InternalSource()
    p = Pipeline("P")
    p.build(source, ListSink())
    p.set_error({}, None, ValueError("hard"))
    assert p.is_error()
    source.put({}, 1)  # recover() resumes the queue: the event is not lost
    assert source.buffered() == 1
    p.stop()
    with pytest.raises(PipelineStoppedError, match="'P' is stopped"):
        source.put({}, 2)
    assert source.buffered() == 1
