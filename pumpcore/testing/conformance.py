"""Conformance: the same pipelines give the same outputs and statistics on every executor.

For users' and adapter authors' tests, as ``trio.testing`` ships checks for stream authors.
Nothing here imports an event loop: executors are reached through ``pumpcore_executors`` when a
check runs, and pytest/hypothesis are imported only by the functions that need them.

Example (a conftest.py and a test)::

    import pytest
    from pumpcore.testing import conformance

    @pytest.fixture(params=conformance.executor_params())
    def executor(request):
        return request.param

    def test_my_pipeline(executor):
        outcome = conformance.run_spec(conformance.PipelineSpec(...), [1, 2, 3], executor)
        assert outcome == conformance.run_spec(..., [1, 2, 3], "sync")
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs

from .._component import Context, Generator
from .._pipeline import ErrorPolicy, Pipeline
from .._pump import Pump
from ..common._iterator_source import IteratorSource
from ..common._routing import InternalSource, RouterSink, TeeProcessor
from ..common._sinks import ListSink

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

EXECUTORS = ("sync", "threads", "asyncio", "trio")
"""Every executor ``pumpcore_executors.run`` knows."""

StepKind = Literal["map", "filter", "explode", "fail"]


def available_executors() -> tuple[str, ...]:
    """The executors usable here: sync and threads always; asyncio with anyio; trio with trio."""
    names = ["sync", "threads"]
    if importlib.util.find_spec("anyio") is not None:
        names.append("asyncio")
        if importlib.util.find_spec("trio") is not None:
            names.append("trio")
    return tuple(names)


def executor_params() -> list[Any]:
    """``pytest.param``s for a fixture over every executor (trio's marked ``needs_trio`` and
    skipped when trio is not installed), as anyio's ``anyio_backend`` fixture does."""
    import pytest

    available = available_executors()
    params = []
    for name in EXECUTORS:
        marks = [pytest.mark.needs_trio] if name == "trio" else []
        if name not in available:
            marks.append(pytest.mark.skip(reason=f"{name} is not installed"))
        params.append(pytest.param(name, id=name, marks=marks))
    return params


@attrs.frozen
class StepSpec:
    """One generated step over integer events.

    ``map``: ``e * 3 + arg``; ``filter``: drop when ``e % arg == 0``; ``explode``: a generator
    yielding ``e * 10 + i`` for ``i < arg``; ``fail``: raise ValueError when ``e % arg == 1``.
    """

    kind: StepKind
    arg: int

    def build(self, index: int) -> Any:
        """The processor (a function, or a Generator for ``explode``)."""
        arg = self.arg
        if self.kind == "explode":
            return _Explode(arg, id=f"explode{index}")
        if self.kind == "map":

            def step(context: Context, event: int) -> int | None:
                return event * 3 + arg

        elif self.kind == "filter":

            def step(context: Context, event: int) -> int | None:
                return None if event % arg == 0 else event

        else:

            def step(context: Context, event: int) -> int | None:
                if event % arg == 1:
                    raise ValueError(f"{event} % {arg} == 1")
                return event

        step.__name__ = f"{self.kind}{index}"
        return step


class _Explode(Generator):
    def __init__(self, n: int, id: str) -> None:
        super().__init__(id=id)
        self.n = n

    def generate(self, context: Context, event: int) -> list[int]:
        return [event * 10 + i for i in range(self.n)]


class _Route(RouterSink):
    def process(self, context: Context, event: Any) -> None:
        self.route(context, event, "Child.InternalSource")


@attrs.frozen
class PipelineSpec:
    """A parent pipeline over an iterator of ints, optionally routing to a child pipeline.

    Attributes:
        steps: the parent's steps.
        route: "none" (the parent ends in a ListSink), "router" (a RouterSink sends every event
            to the child), or "tee" (a TeeProcessor copies every event to the child and the
            parent goes on to its own sink).
        child_steps: the child's steps.
        queue_size: the child's InternalSource bound (small to exercise backpressure).
        error_policy: both pipelines' policy.
        batch_size: passed to the executor.
    """

    steps: tuple[StepSpec, ...] = ()
    route: Literal["none", "router", "tee"] = "none"
    child_steps: tuple[StepSpec, ...] = ()
    queue_size: int = 10
    error_policy: Literal["hard", "soft"] = "soft"
    batch_size: int = 16

    def build(self, events: Iterable[int]) -> tuple[list[Pipeline], dict[str, ListSink]]:
        """Fresh pipelines (in one Pump) and their ListSinks by pipeline id."""
        policy: ErrorPolicy = self.error_policy
        parent = Pipeline("Parent", error_policy=policy)
        pipelines = [parent]
        sinks: dict[str, ListSink] = {}
        steps = [s.build(i) for i, s in enumerate(self.steps)]
        if self.route == "none":
            sinks["Parent"] = ListSink()
            parent.build(IteratorSource(list(events)), *steps, sinks["Parent"])
        else:
            child = Pipeline("Child", error_policy=policy)
            child_sink = ListSink()
            sinks["Child"] = child_sink
            child_steps = [s.build(i) for i, s in enumerate(self.child_steps)]
            child.build(
                InternalSource(config={"queue_max_size": self.queue_size}),
                *child_steps,
                child_sink,
            )
            if self.route == "router":
                parent.build(IteratorSource(list(events)), *steps, _Route())
            else:
                sinks["Parent"] = ListSink()
                tee = TeeProcessor().bind("Child.InternalSource")
                parent.build(IteratorSource(list(events)), *steps, tee, sinks["Parent"])
            pipelines.append(child)
        Pump(pipelines)
        return pipelines, sinks


@attrs.frozen
class Outcome:
    """What a run produced: each sink's events in order, each pipeline's counters, hard errors."""

    outputs: Mapping[str, list[Any]]
    statistics: Mapping[str, Mapping[str, int]]
    errors: Mapping[str, str]


def run_spec(
    spec: PipelineSpec, events: Sequence[int], executor: str, **run_kwargs: Any
) -> Outcome:
    """Build ``spec`` over ``events``, run it to the end on ``executor``, return the outcome."""
    import pumpcore_executors

    pipelines, sinks = spec.build(events)
    report = pumpcore_executors.run(
        *pipelines,
        executor=executor,  # type: ignore[arg-type]
        batch_size=spec.batch_size,
        handle_signals=False,
        **run_kwargs,
    )
    return Outcome(
        outputs={pid: list(sink.Events) for pid, sink in sinks.items()},
        statistics={pid: dict(stats.as_dict()) for pid, stats in report.statistics.items()},
        errors=dict(report.errors),
    )


def assert_same_everywhere(
    spec: PipelineSpec, events: Sequence[int], executors: Sequence[str] | None = None
) -> Outcome:
    """Run ``spec`` on every available executor and assert the outcomes are identical.

    Returns:
        The outcome (the sync executor's).

    Raises:
        AssertionError: naming the first executor that differed, and how.
    """
    names = list(executors) if executors is not None else list(available_executors())
    expected = run_spec(spec, events, names[0])
    for name in names[1:]:
        got = run_spec(spec, events, name)
        assert got.outputs == expected.outputs, f"{name}: outputs differ from {names[0]}'s"
        assert got.statistics == expected.statistics, (
            f"{name}: statistics {got.statistics} differ from {names[0]}'s {expected.statistics}"
        )
        assert got.errors.keys() == expected.errors.keys(), f"{name}: errors differ"
    return expected


def step_specs() -> SearchStrategy[StepSpec]:
    """Hypothesis strategy for one step (needs hypothesis)."""
    from hypothesis import strategies as st

    return st.one_of(
        st.builds(StepSpec, st.just("map"), st.integers(-3, 3)),
        st.builds(StepSpec, st.just("filter"), st.integers(2, 5)),
        st.builds(StepSpec, st.just("explode"), st.integers(0, 3)),
        st.builds(StepSpec, st.just("fail"), st.integers(3, 9)),
    )


def pipeline_specs() -> SearchStrategy[PipelineSpec]:
    """Hypothesis strategy for generated pipelines: maps, filters, generators, failures, routing
    to a second pipeline through a small queue, both error policies, small batches."""
    from hypothesis import strategies as st

    return st.builds(
        PipelineSpec,
        steps=st.lists(step_specs(), max_size=4).map(tuple),
        route=st.sampled_from(["none", "router", "tee"]),
        child_steps=st.lists(step_specs(), max_size=3).map(tuple),
        queue_size=st.integers(1, 20),
        error_policy=st.sampled_from(["soft", "hard"]),
        batch_size=st.integers(1, 64),
    )
