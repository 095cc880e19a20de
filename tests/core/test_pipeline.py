"""The pipeline engine with scripted inputs and exact expected outputs."""

from __future__ import annotations

from typing import Any

import pytest

from pumpcore import (
    ConfigError,
    Failure,
    Generator,
    IncompletePipelineError,
    Pipeline,
    PipelineStoppedError,
    Processor,
    Sink,
)
from pumpcore.common import IteratorSource, ListSink, NullSink
from pumpcore.testing import run_chain, run_pipeline


def parse_int(context: dict[str, Any], event: str) -> int:
    return int(event)


def double(context: dict[str, Any], event: int) -> int:
    return event * 2


def drop_odd(context: dict[str, Any], event: int) -> int | None:
    return None if event % 2 else event


class Split(Generator):
    def generate(self, context: dict[str, Any], event: str) -> list[str]:
        return event.split(",")


def test_run_chain_calls_functions_in_order() -> None:
    assert run_chain([parse_int, double], ["1", "2", "3"]) == [2, 4, 6]


def test_run_chain_reraises_the_processors_exception() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        run_chain([parse_int], ["x"])


def test_run_chain_gives_each_event_its_own_copy_of_the_context() -> None:
    def mark(context: dict[str, Any], event: int) -> int:
        context.setdefault("seen", []).append(event)
        return len(context["seen"])

    assert run_chain([mark], [1, 2, 3], context={"k": "v"}) == [1, 1, 1]


def test_dropped_events_are_counted() -> None:
    p = Pipeline("P")
    p.build([], drop_odd, NullSink())
    result = run_pipeline(p, [1, 2, 3, 4, 5])
    assert result.outputs == [2, 4]
    stats = result.statistics
    assert (stats.event_in, stats.event_out, stats.event_drop) == (5, 2, 3)
    assert stats["event.drop"] == 3


def test_generator_counts_absorbed_and_generated() -> None:
    p = Pipeline("P")
    p.build([], Split(), ListSink())
    result = run_pipeline(p, ["a,b", "c", "d,e,f"])
    assert result.outputs == ["a", "b", "c", "d", "e", "f"]
    s = result.statistics
    assert (s.event_in, s.event_absorbed, s.event_generated, s.event_out) == (3, 3, 6, 6)


def test_soft_error_lets_the_next_event_through() -> None:
    p = Pipeline("P", error_policy="soft")
    p.build([], parse_int, ListSink())
    result = run_pipeline(p, ["1", "x", "3"])
    assert result.outputs == [1, 3]
    assert result.statistics.warning == 1
    assert result.statistics.error == 0
    assert not p.is_error()
    [failure] = result.failures
    assert (failure.component_id, failure.event, failure.soft) == ("parse_int", "x", True)
    assert isinstance(failure.exception, ValueError)


def test_hard_error_stops_the_pipeline_until_recovered() -> None:
    p = Pipeline("P")  # hard is the default, as in BSPump
    p.build([], parse_int, ListSink())
    result = run_pipeline(p, ["1", "x", "3", "4"], stop=False)
    assert result.outputs == [1]
    assert result.unprocessed == ["3", "4"]
    assert result.statistics.error == 1
    assert p.is_error()
    assert not p.is_ready()
    with pytest.raises(PipelineStoppedError, match="parse_int"):
        p.process("5")
    p.recover()
    assert p.is_ready()
    assert run_pipeline(p, result.unprocessed).outputs == [3, 4]


def test_handle_error_override_decides_per_exception() -> None:
    class Lenient(Pipeline):
        def handle_error(self, exception: Exception, context: dict[str, Any], event: Any) -> bool:
            return isinstance(exception, ValueError)

    p = Lenient("P")
    p.build([], parse_int, ListSink())
    assert run_pipeline(p, ["x", "2"], stop=False).outputs == [2]
    assert run_pipeline(p, [None]).statistics.error == 1  # int(None) is a TypeError: hard


def test_dead_letter_receives_failures_with_their_exception() -> None:
    dead = ListSink(id="dead")
    p = Pipeline("P", error_policy="soft")
    p.build([], parse_int, ListSink())
    p.set_dead_letter(dead)
    run_pipeline(p, ["1", "bad"])
    [failure] = dead.Events
    assert isinstance(failure, Failure)
    assert failure.event == "bad"
    assert failure.component_id == "parse_int"
    assert p.statistics().dead_letter == 1


def test_an_event_falling_off_the_end_is_an_incomplete_pipeline_error() -> None:
    # Assembled step by step (BSPump's way), so build's structure check does not apply.
    p = Pipeline("P")
    p.append_processor(double)
    result = run_pipeline(p, [1])
    assert isinstance(result.failures[0].exception, IncompletePipelineError)
    assert "Incomplete pipeline" in str(result.failures[0].exception)


def test_a_failing_sink_is_named() -> None:
    class Broken(Sink):
        def process(self, context: dict[str, Any], event: Any) -> None:
            raise OSError("disk full")

    p = Pipeline("P", error_policy="soft")
    p.build([], double, Broken())
    result = run_pipeline(p, [1])
    assert result.failures[0].component_id == "Broken"
    assert result.statistics.event_out == 0


def test_structure_api() -> None:
    p = Pipeline("P")
    sink = ListSink()
    p.build(IteratorSource([]), double, sink)
    assert p.insert_before("double", parse_int)
    assert p.insert_after("double", drop_odd)
    assert not p.insert_after("missing", drop_odd)
    assert p.processor_ids() == ("parse_int", "double", "drop_odd", "ListSink")
    assert p.locate_processor("double") is double
    assert p.remove_processor("drop_odd") is drop_odd
    with pytest.raises(KeyError, match="nope"):
        p.remove_processor("nope")
    assert [type(s).__name__ for s in p.iter_sources()] == ["IteratorSource"]
    assert p.locate_source("P.IteratorSource") is p.locate_source("IteratorSource")
    assert p.locate_sink() is sink
    assert run_pipeline(p, ["2"]).outputs == [4]


def test_duplicate_component_ids_are_refused_but_functions_get_unique_ids() -> None:
    p = Pipeline("P")
    p.append_processor(double)
    p.append_processor(double)
    assert p.processor_ids() == ("double", "double#2")
    p.append_processor(Split())
    with pytest.raises(ConfigError, match="two processors with id 'Split'"):
        p.append_processor(Split())


def test_pipeline_can_be_subclassed_and_built_in_init() -> None:
    class Enrich(Processor):
        def process(self, context: dict[str, Any], event: dict[str, float]) -> dict[str, float]:
            event["jpy"] = event["usd"] * 113.7
            return event

    class SamplePipeline(Pipeline):
        def __init__(self, pipeline_id: str) -> None:
            super().__init__(pipeline_id)
            self.build(IteratorSource([{"usd": 1.0}]), Enrich(self), ListSink(self))

    p = SamplePipeline("SamplePipeline")
    assert p.locate_processor("Enrich") is not None
    source = p.locate_source("IteratorSource")
    assert source is not None
    assert source.pump(10) == 1
    sink = p.locate_sink()
    assert isinstance(sink, ListSink)
    assert sink.Events == [{"usd": 1.0, "jpy": 113.7}]


def test_sampled_timings_use_the_given_timer_only_on_samples() -> None:
    ticks = iter(range(1000))
    p = Pipeline("P", config={"sample_every": 10})
    p.build([], double, NullSink())
    p.set_timer(lambda: float(next(ticks)))
    for start in range(0, 25, 5):  # at most one sample per batch, one per 10 events
        p.process_events(list(range(start, start + 5)))
    timings = p.statistics().timings
    assert timings["double"].samples == 2
    assert timings["double"].mean == 1.0
    assert p.statistics().event_out == 25


def test_throttled_pipeline_takes_nothing_from_batches_but_single_events_pass() -> None:
    p = Pipeline("P")
    sink = ListSink()
    p.build([], sink)
    p.throttle("me", True)
    assert p.process_events([1, 2]) == 0
    p.process(3)  # an event offered anyway is never lost
    assert sink.Events == [3]
    p.throttle("me", False)
    assert p.process_events([1, 2]) == 2


def test_stop_refuses_new_events() -> None:
    p = Pipeline("P")
    p.build([], NullSink())
    p.stop(0.0)
    assert p.process_events([1]) == 0
    with pytest.raises(PipelineStoppedError):
        p.process(1)


def test_build_refuses_a_pipeline_without_a_sink() -> None:
    p = Pipeline("P")
    with pytest.raises(ConfigError, match=r"Pipeline 'P' has no sink: its last step 'double'"):
        p.build([], parse_int, double)
    assert p.processor_ids() == ()  # refused before anything joined


def test_build_refuses_a_sink_in_the_middle() -> None:
    p = Pipeline("P")
    with pytest.raises(ConfigError, match=r"sink 'ListSink' is not the last.*'double' follows"):
        p.build([], parse_int, ListSink(), double, NullSink())
    assert p.processor_ids() == ()


def test_build_refuses_an_empty_pipeline() -> None:
    p = Pipeline("P")
    with pytest.raises(ConfigError, match="Pipeline 'P' is empty"):
        p.build(IteratorSource([]))


def test_build_checks_the_steps_already_in_place() -> None:
    p = Pipeline("P")
    p.append_processor(parse_int)
    p.build([], double, ListSink())  # completes what was appended
    assert p.processor_ids() == ("parse_int", "double", "ListSink")


def test_nothing_goes_behind_the_sink() -> None:
    p = Pipeline("P")
    p.build([], double, ListSink(id="Out"))
    with pytest.raises(ConfigError, match=r"'P': cannot put 'drop_odd' behind the sink 'Out'"):
        p.append_processor(drop_odd)
    with pytest.raises(ConfigError, match=r"cannot put 'drop_odd' behind the sink 'Out'"):
        p.insert_after("Out", drop_odd)
    with pytest.raises(ConfigError, match=r"cannot put the sink 'Other' in front of 'Out'"):
        p.insert_before("Out", ListSink(id="Other"))
    assert p.insert_before("Out", drop_odd)  # in front of the sink is fine
    assert p.processor_ids() == ("double", "drop_odd", "Out")


def test_the_same_function_twice_is_blamed_at_the_right_step() -> None:
    def halve_even(context: dict[str, Any], event: int) -> int:
        if event % 2:
            raise ValueError(f"odd {event}")
        return event // 2

    p = Pipeline("P", error_policy="soft")
    sink = ListSink()
    p.build([], halve_even, halve_even, sink)
    result = run_pipeline(p, [4, 6, 3])  # 6 -> 3 fails in the second step, 3 in the first
    assert sink.Events == [1]
    assert [(f.event, f.component_id) for f in result.failures] == [
        (3, "halve_even#2"),
        (3, "halve_even"),
    ]


def test_callables_that_compare_equal_are_told_apart() -> None:
    class Halve:
        __name__ = "Halve"

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Halve)

        __hash__ = object.__hash__

        def __call__(self, context: dict[str, Any], event: int) -> int:
            if event % 2:
                raise ValueError(f"odd {event}")
            return event // 2

    p = Pipeline("P", error_policy="soft")
    p.build([], Halve(), Halve(), ListSink())
    result = run_pipeline(p, [6])
    assert [f.component_id for f in result.failures] == ["Halve#2"]


def test_a_failing_dead_letter_sink_loses_no_counts() -> None:
    class BrokenDeadLetter(Sink):
        def process(self, context: dict[str, Any], event: Any) -> None:
            raise OSError("dead letter disk full")

    p = Pipeline("P", error_policy="soft")
    sink = ListSink()
    p.build([], parse_int, sink)
    p.set_dead_letter(BrokenDeadLetter())
    result = run_pipeline(p, ["1", "x", "2", "y", "3"])
    assert sink.Events == [1, 2, 3]  # the batch went on past both failures
    stats = result.statistics
    assert (stats.event_in, stats.event_out, stats.warning) == (5, 3, 2)
    assert (stats.dead_letter, stats.dead_letter_error) == (0, 2)
    assert stats.as_dict()["dead_letter.error"] == 2
    reported = [(f.component_id, type(f.exception).__name__) for f in result.failures]
    assert reported == [("parse_int", "ValueError"), ("BrokenDeadLetter", "OSError")] * 2
    lost = result.failures[1]
    assert lost.soft
    assert isinstance(lost.event, Failure)
    assert lost.event.event == "x"


def test_a_failing_dead_letter_sink_keeps_the_hard_stop() -> None:
    class BrokenDeadLetter(Sink):
        def process(self, context: dict[str, Any], event: Any) -> None:
            raise OSError("dead letter disk full")

    p = Pipeline("P")
    p.build([], parse_int, ListSink())
    p.set_dead_letter(BrokenDeadLetter())
    assert p.process_events(["1", "x", "2"]) == 2
    stats = p.statistics()
    assert (stats.event_in, stats.event_out, stats.error, stats.dead_letter_error) == (2, 1, 1, 1)
    assert p.is_error()
