"""``Pipeline.component_statistics``: per-component counts on the fast and the general path,
through a change of structure, and for events injected part-way."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pumpcore import ComponentStatistics, Context, Generator, Pipeline
from pumpcore.common import ListSink

from .test_properties import make_step, step_specs


def drop_thirds(context: Context, event: int) -> int | None:
    return None if event % 3 == 0 else event


def fail_fives(context: Context, event: int) -> int:
    if event % 5 == 0:
        raise ValueError(event)
    return event


class Twice(Generator):
    def generate(self, context: Context, event: Any) -> list[Any]:
        return [event, event]


def balanced(c: ComponentStatistics) -> bool:
    return c.event_in + c.event_generated == (
        c.event_out + c.event_drop + c.warning + c.error + c.event_absorbed + c.in_flight
    )


def test_fast_path_counts_per_step() -> None:
    p = Pipeline("P", error_policy="soft")
    p.build([], drop_thirds, fail_fives, ListSink())
    p.process_events(list(range(30)))
    got = {cid: c.as_dict() for cid, c in p.component_statistics().items()}
    assert got["drop_thirds"]["event.in"] == 30
    assert got["drop_thirds"]["event.drop"] == 10
    assert got["fail_fives"]["event.in"] == 20
    assert got["fail_fives"]["warning"] == 4  # 5, 10, 20, 25
    assert got["ListSink"]["event.in"] == got["ListSink"]["event.out"] == 16


def test_a_hard_error_is_the_failing_components() -> None:
    p = Pipeline("P")
    p.build([], drop_thirds, fail_fives, ListSink())
    assert p.process_events(list(range(1, 30))) == 5  # 1, 2, 3 (dropped), 4, 5 (fails)
    counts = p.component_statistics()
    assert counts["fail_fives"].error == 1
    assert counts["drop_thirds"].event_drop == 1
    assert counts["ListSink"].event_out == 3


def test_only_a_sink() -> None:
    p = Pipeline("P")
    p.build([], ListSink())
    p.process_events([1, 2])
    assert p.component_statistics()["ListSink"].as_dict()["event.out"] == 2


def test_each_component_keeps_its_counts_through_a_change_of_structure() -> None:
    p = Pipeline("P", error_policy="soft")
    p.build([], drop_thirds, fail_fives, ListSink())
    p.process_events(list(range(30)))
    p.insert_after("drop_thirds", Twice(id="twice"))
    counts = p.component_statistics()
    assert counts["twice"] == ComponentStatistics("twice")
    assert counts["fail_fives"].event_in == 20
    assert counts["ListSink"].event_in == 16
    p.process_events(list(range(30)))
    counts = p.component_statistics()
    assert counts["twice"].event_in == 20
    assert counts["twice"].event_out == 40
    assert counts["fail_fives"].event_in == 60
    assert counts["ListSink"].event_out == 16 + 32
    p.remove_processor("fail_fives")
    p.process_events([1])
    counts = p.component_statistics()
    assert counts["ListSink"].event_out == 48 + 2 == p.statistics().event_out
    assert all(balanced(c) for c in counts.values())


def test_injected_events_count_as_generated_by_the_step_before() -> None:
    p = Pipeline("P", error_policy="soft")
    p.build([], drop_thirds, fail_fives, ListSink())
    p.inject({}, 7, 2)
    p.inject({}, 4, 0)
    counts = p.component_statistics()
    assert counts["fail_fives"].event_generated == 1
    assert counts["drop_thirds"].event_in == 1  # injected before the first step
    assert counts["ListSink"].event_out == 2
    assert all(balanced(c) for c in counts.values())


@settings(max_examples=50, deadline=None)
@given(
    specs=st.lists(step_specs, min_size=1, max_size=4),
    values=st.lists(st.integers(-50, 50), max_size=60),
    policy=st.sampled_from(["soft", "hard"]),
)
def test_components_balance_and_sum_to_the_pipeline(
    specs: list[tuple[str, int]], values: list[int], policy: Any
) -> None:
    p = Pipeline("P", error_policy=policy)
    p.build([], *(make_step(s, i) for i, s in enumerate(specs)), ListSink())
    p.process_events(list(enumerate(values)))
    stats, counts = p.statistics(), list(p.component_statistics().values())
    assert all(balanced(c) for c in counts)
    assert counts[0].event_in == stats.event_in
    assert counts[-1].event_out == stats.event_out
    for name in ("event_drop", "warning", "error", "event_generated", "event_absorbed"):
        assert sum(getattr(c, name) for c in counts) == getattr(stats, name), name
    for before, after in itertools.pairwise(counts):
        assert before.event_out == after.event_in
