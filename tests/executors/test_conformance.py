"""Identical outputs and statistics on every executor: scripted pipelines, then generated ones."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pumpcore_executors import ExecutorName

from pumpcore.testing import conformance
from pumpcore.testing.conformance import PipelineSpec, StepSpec

pytestmark = pytest.mark.timeout(60)

SCRIPTED = {
    "plain": (PipelineSpec(), list(range(100))),
    "map-filter": (
        PipelineSpec(steps=(StepSpec("map", 1), StepSpec("filter", 3))),
        list(range(500)),
    ),
    "generator": (PipelineSpec(steps=(StepSpec("explode", 3),)), list(range(50))),
    "soft-failures": (PipelineSpec(steps=(StepSpec("fail", 4),)), list(range(200))),
    "hard-failure": (
        PipelineSpec(steps=(StepSpec("fail", 40),), error_policy="hard"),
        list(range(200)),
    ),
    "router-small-queue": (
        PipelineSpec(
            steps=(StepSpec("map", 0),),
            route="router",
            child_steps=(StepSpec("filter", 2),),
            queue_size=3,
            batch_size=7,
        ),
        list(range(2000)),
    ),
    "tee": (
        PipelineSpec(route="tee", child_steps=(StepSpec("explode", 2),), queue_size=50),
        list(range(300)),
    ),
}


@pytest.mark.parametrize("name", SCRIPTED)
def test_scripted_pipeline_same_on_every_executor(name: str, executor: ExecutorName) -> None:
    spec, events = SCRIPTED[name]
    expected = conformance.run_spec(spec, events, "sync")
    got = conformance.run_spec(spec, events, executor)
    assert got == expected


def test_scripted_outputs_are_the_expected_ones() -> None:
    spec, events = SCRIPTED["router-small-queue"]
    outcome = conformance.run_spec(spec, events, "sync")
    assert outcome.outputs["Child"] == [e * 3 for e in range(2000) if (e * 3) % 2 != 0]
    spec, events = SCRIPTED["hard-failure"]
    outcome = conformance.run_spec(spec, events, "sync")
    assert outcome.outputs["Parent"] == [0]  # 1 % 40 == 1 fails hard: intake stops
    assert "Parent" in outcome.errors


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    spec=conformance.pipeline_specs(),
    events=st.lists(st.integers(-1000, 1000), max_size=200),
)
def test_generated_pipelines_same_on_every_executor(spec: PipelineSpec, events: list[int]) -> None:
    conformance.assert_same_everywhere(spec, events)
