"""Per-component timings are sampled on every path: I/O sources and routed pipelines alike."""

from __future__ import annotations

from typing import Any

import pumpcore_executors
from pumpcore_executors import ExecutorName

from pumpcore import BlockingSource, Pipeline
from pumpcore.common import InternalSource, ListSink, RouterSink
from pumpcore.lowlevel import Batch, ReadResult

from .conftest import run_kwargs


class Numbers(BlockingSource):
    """Reads 0..n-1 in batches, positions and all."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.next = n, 0

    def read(self, max_items: int) -> ReadResult:
        if self.next >= self.n:
            return None
        stop = min(self.n, self.next + max_items)
        values = list(range(self.next, stop))
        self.next = stop
        return Batch(values, values)


def double(context: dict[str, Any], event: int) -> int:
    return event * 2


def test_io_sources_and_routed_pipelines_are_timed(executor: ExecutorName) -> None:
    class Route(RouterSink):
        def process(self, context: dict[str, Any], event: Any) -> None:
            self.route(context, event, "Child.InternalSource")

    parent = Pipeline("Parent", config={"sample_every": 10})
    child = Pipeline("Child", config={"sample_every": 10})
    parent.build(Numbers(200), double, Route())
    sink = ListSink()
    child.build(InternalSource(), double, sink)
    report = pumpcore_executors.run(parent, child, executor=executor, **run_kwargs(executor))
    assert sorted(sink.Events) == [e * 4 for e in range(200)]
    for pid in ("Parent", "Child"):
        timings = report.statistics[pid].timings
        assert timings["double"].samples >= 1, pid
        assert timings["double"].total >= 0.0
