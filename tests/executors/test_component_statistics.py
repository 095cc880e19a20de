"""Per-component counters on every executor: each component balances, and summed over the
components they are the pipeline's, for generated pipelines (with an offloaded step or not)."""

from __future__ import annotations

import itertools
from typing import Any, Literal

import pumpcore_executors
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pumpcore_executors import ExecutorName

from pumpcore import Context, Pipeline, blocking
from pumpcore.testing import conformance
from pumpcore.testing.conformance import PipelineSpec

from .conftest import run_kwargs

pytestmark = pytest.mark.timeout(60)

Offloaded = Literal["none", "async", "blocking"]


def offloaded_step(mode: Offloaded) -> Any:
    """An async or blocking step that drops multiples of 7 and raises on ``e % 11 == 5``."""

    def outcome(event: int) -> int | None:
        if event % 11 == 5:
            raise ValueError(f"{event} % 11 == 5")
        return None if event % 7 == 0 else event

    if mode == "async":

        async def slow(context: Context, event: int) -> int | None:
            return outcome(event)

        return slow

    @blocking
    def slow_blocking(context: Context, event: int) -> int | None:
        return outcome(event)

    return slow_blocking


def check_components(pipeline: Pipeline) -> None:
    stats = pipeline.statistics()
    components = pipeline.component_statistics()
    assert list(components) == list(pipeline.processor_ids())
    for c in components.values():
        assert c.event_in + c.event_generated == (
            c.event_out + c.event_drop + c.warning + c.error + c.event_absorbed + c.in_flight
        ), c
        assert min(c.event_in, c.event_out) >= 0, c
    counts = list(components.values())
    assert counts[0].event_in == stats.event_in
    assert counts[-1].event_out == stats.event_out
    for name in ("event_drop", "warning", "error", "event_generated", "event_absorbed"):
        assert sum(getattr(c, name) for c in counts) == getattr(stats, name), name
    assert sum(c.in_flight for c in counts) == pipeline.in_flight()
    for before, after in itertools.pairwise(counts):
        assert before.event_out == after.event_in


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    spec=conformance.pipeline_specs(),
    offloaded=st.sampled_from(["none", "async", "blocking"]),
    events=st.lists(st.integers(-1000, 1000), max_size=150),
)
def test_components_balance_and_sum_to_the_pipeline(
    executor: ExecutorName, spec: PipelineSpec, offloaded: Offloaded, events: list[int]
) -> None:
    pipelines, _ = spec.build(events)
    if offloaded != "none":
        parent = pipelines[0]
        parent.insert_before(parent.processor_ids()[0], offloaded_step(offloaded))
    pumpcore_executors.run(*pipelines, executor=executor, batch_size=spec.batch_size)
    for pipeline in pipelines:
        check_components(pipeline)


def test_scripted_counts(executor: ExecutorName) -> None:
    spec = PipelineSpec(
        steps=(
            conformance.StepSpec("filter", 2),
            conformance.StepSpec("explode", 3),
            conformance.StepSpec("fail", 4),
        )
    )
    [pipeline], _ = spec.build(range(100))
    pipeline.insert_before("filter0", offloaded_step("blocking"))
    pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))
    got = {cid: c.as_dict() for cid, c in pipeline.component_statistics().items()}
    # slow_blocking: 9 raise (e % 11 == 5, 49 among them), the other 14 multiples of 7 are
    # dropped; 77 go on, 39 of them odd.
    assert got["slow_blocking"]["event.in"] == 100
    assert got["slow_blocking"]["event.drop"] == 14
    assert got["slow_blocking"]["warning"] == 9
    assert got["filter0"] == {**got["filter0"], "event.in": 77, "event.out": 39}
    assert got["explode1"]["event.absorbed"] == 39
    assert got["explode1"]["event.generated"] == got["explode1"]["event.out"] == 117
    assert got["fail2"]["event.in"] == 117
    assert got["ListSink"]["event.out"] == pipeline.statistics().event_out
    check_components(pipeline)
