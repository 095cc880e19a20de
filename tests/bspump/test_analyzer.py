"""``bspump.analyzer``: BSPump's analyzers, matrices and anomalies in real pipelines, on every
executor (none of it is asyncio code)."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import numpy as np
import pumpcore_bspump as bspump
import pumpcore_executors
import pytest
from pumpcore_bspump import BSPumpApplication, analyzer
from pumpcore_bspump.common import IteratorSource, ListSink
from pumpcore_executors import ExecutorName

from pumpcore import BlockingSource, ConfigError, Context, Received, Settings
from pumpcore.testing import VirtualClock

from ..executors.conftest import run_kwargs

pytestmark = pytest.mark.timeout(60)


def app_with(config: str = "") -> BSPumpApplication:
    app = BSPumpApplication(args=[])
    app.Settings = Settings.from_ini(config)
    return app


class RouteCounter(analyzer.TimeWindowAnalyzer):
    """BSPump's way: a row per route, ``Array[row, column] += 1`` on numpy."""

    def predicate(self, context: Context, event: Any) -> bool:
        return "route" in event

    def evaluate(self, context: Context, event: Any) -> None:
        row = self.TimeWindow.get_row_index(event["route"])
        if row is None:
            row = self.TimeWindow.add_row(event["route"])
        column = self.TimeWindow.get_column(event["@timestamp"])
        if column is not None:
            self.TimeWindow.Array[row, column] += 1

    def analyze(self) -> Any:
        # numpy over the whole matrix, as BSPump's docs advise
        busiest = int(np.argmax(self.TimeWindow.Array.sum(axis=1)))
        return [{"busiest": self.TimeWindow.get_row_name(busiest)}]


EVENTS = [
    {"route": "/a", "@timestamp": 1},
    {"route": "/b", "@timestamp": 2},
    {"route": "/a", "@timestamp": 11},
    {"route": "/a", "@timestamp": 12},
    {"route": "/a", "@timestamp": 3},  # late: slot 0 closed at 11
    {"route": "/b", "@timestamp": 25},
]


def windows(events: list[Any]) -> list[tuple[float, dict[Any, Any]]]:
    return [(e["window_start"], e["values"]) for e in events if "window_start" in e]


def test_time_window_analyzer_reads_its_section_and_registers_its_matrix(
    executor: ExecutorName,
) -> None:
    app = app_with("[pipeline:P:Routes]\nresolution = 10\ncolumns = 3\n")
    svc = app.get_service("bspump.PumpService")
    pipeline = bspump.Pipeline(app, "P")
    counter = RouteCounter(app, pipeline, clock_driven=False, id="Routes", analyze_on_close=True)
    sink = ListSink(app, pipeline)
    pipeline.build(IteratorSource(app, pipeline, EVENTS), counter, sink)
    svc.add_pipeline(pipeline)
    pumpcore_executors.run(svc.Pump, executor=executor, **run_kwargs(executor))

    assert counter.TimeWindow.Resolution == 10
    assert counter.TimeWindow.Columns == 3
    assert svc.locate_matrix("RoutesMatrix") is counter.TimeWindow
    assert isinstance(counter.TimeWindow.Array, np.ndarray)
    assert windows(sink.Events) == [
        (0.0, {"/a": 1.0, "/b": 1.0}),
        (10.0, {"/a": 2.0}),
        (20.0, {"/b": 1.0}),
    ]
    assert [e["busiest"] for e in sink.Events if "busiest" in e] == ["/a", "/a", "/a"]
    assert counter.TimeWindow.Counters["events.late"] == 1
    assert sink.Events[:6] == EVENTS  # an analyzer observes: the events pass unchanged


def test_analyzers_share_a_registered_matrix_by_id(executor: ExecutorName) -> None:
    app = app_with()
    svc = app.get_service("bspump.PumpService")
    shared = svc.add_matrix(
        analyzer.TimeWindowMatrix(app, resolution=5, columns=4, clock_driven=False, id="Shared")
    )
    pipeline = bspump.Pipeline(app, "P")
    counter = RouteCounter(app, pipeline, "Shared")
    sink = ListSink(app, pipeline)
    pipeline.build(IteratorSource(app, pipeline, EVENTS[:4]), counter, sink)
    svc.add_pipeline(pipeline)
    pumpcore_executors.run(svc.Pump, executor=executor, **run_kwargs(executor))
    assert counter.TimeWindow is shared
    assert not counter.ClockDriven
    assert windows(sink.Events) == [(0.0, {"/a": 1.0, "/b": 1.0}), (10.0, {"/a": 2.0})]
    assert sorted(svc.Matrices) == ["Shared"]  # no matrix of its own

    with pytest.raises(KeyError, match=r"no matrix 'Nope' \(known: Shared\)"):
        RouteCounter(app, pipeline, "Nope")
    with pytest.raises(ConfigError, match="clock_driven=True but matrix 'Shared' is clock_dri"):
        RouteCounter(app, pipeline, "Shared", clock_driven=True)


def test_clock_driven_by_default_as_bspump(executor: ExecutorName) -> None:
    class Clocked(BlockingSource):
        """An event per read, stamped with the clock, 3 s apart."""

        def __init__(self, clock: VirtualClock) -> None:
            super().__init__(config={"poll_interval": 3.0})
            self.clock, self.n = clock, 0

        def read(self, max_items: int) -> list[Received] | None:
            if self.n == 10:
                return None
            self.n += 1
            self.clock.advance(3.0)
            return [Received({"route": "/a", "@timestamp": self.clock.time()})]

    app = app_with()
    clock = VirtualClock(start=1000.0)
    pipeline = bspump.Pipeline(app, "P")
    counter = RouteCounter(app, pipeline, resolution=10, columns=3)
    sink = ListSink(app, pipeline)
    pipeline.build(Clocked(clock), counter, sink)
    pumpcore_executors.run(pipeline, executor=executor, clock=clock, **run_kwargs(executor))
    assert counter.ClockDriven
    assert counter.TimeWindow.ClockDriven
    found = windows(sink.Events)
    assert sum(sum(values.values()) for _, values in found) == 10
    assert found == [(1000.0 + 10 * k, {"/a": n}) for k, n in enumerate([3, 3, 3, 1])]


class Visits(analyzer.SessionAnalyzer):
    def evaluate(self, context: Context, event: Any) -> None:
        row = self.get_session(event["user"], event["t"])
        if row is not None:
            columns = self.Sessions.Columns
            self.Sessions.Array[row, columns["clicks"]] += 1
            self.Sessions.Array[row, columns["bytes"]] += event["bytes"]


def test_session_analyzer_with_named_columns(executor: ExecutorName) -> None:
    app = app_with("[pipeline:P:Visits]\nsession_gap = 10\n")
    svc = app.get_service("bspump.PumpService")
    pipeline = bspump.Pipeline(app, "P")
    visits = Visits(app, pipeline, dtype=[("clicks", "i8"), ("bytes", "i8")], id="Visits")
    sink = ListSink(app, pipeline)
    events = [
        {"user": "a", "t": 0, "bytes": 5},
        {"user": "b", "t": 1, "bytes": 1},
        {"user": "a", "t": 4, "bytes": 7},
        {"user": "a", "t": 30, "bytes": 2},
    ]
    pipeline.build(IteratorSource(app, pipeline, events), visits, sink)
    pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))
    sessions = [
        (s["id"], s["clicks"], s["bytes"], s["session_start"], s["session_end"])
        for s in sink.Events[4:]
    ]
    assert sessions == [("a", 1 + 1, 12, 0, 4), ("b", 1, 1, 1, 1), ("a", 1, 2, 30, 30)]
    assert svc.locate_matrix("VisitsMatrix") is visits.Sessions
    assert visits.Sessions.Array.dtype == np.dtype("int64")

    with pytest.raises(ConfigError, match=r"column 'name' has dtype '<U20'; matrix cells are"):
        Visits(app, pipeline, dtype=[("name", "U20"), ("count", "i8")])
    shared, other = analyzer.SessionMatrix(app, [("n", "f8")], id="S"), analyzer.SessionMatrix(app)
    svc.add_matrixes(shared, other)
    assert Visits(app, pipeline, "S").Sessions is shared
    assert svc.locate_matrix("SessionMatrix") is other


def test_threshold_alarms_become_anomalies(executor: ExecutorName) -> None:
    app = app_with(
        "[pipeline:P:Threshold]\nevent_attribute = host\nevent_value = load\n"
        "upper_bound = 0.9\nresolution = 60\ncolumns = 5\n"
    )
    svc = app.get_service("bspump.PumpService")
    pipeline = bspump.Pipeline(app, "P")
    threshold = analyzer.ThresholdAnalyzer(
        app,
        pipeline,
        "Threshold",
        clock_driven=False,
        analyze_on_clock=False,
        analyze_on_close=True,
    )
    storage = analyzer.AnomalyStorage(app, config={"closed_anomaly_longevity": 1})
    manager = analyzer.AnomalyManager(app, pipeline, storage)
    sink = ListSink(app, pipeline)
    loads = [("h1", 0.5, 10), ("h2", 0.95, 20), ("h2", 0.97, 70), ("h1", 0.2, 130)]
    events = [{"host": h, "load": v, "@timestamp": t} for h, v, t in loads]
    pipeline.build(IteratorSource(app, pipeline, events), threshold, manager, sink)
    pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))
    assert svc.locate_matrix("ThresholdMatrix") is threshold.TimeWindow
    alarms = [e for e in sink.Events if e.get("type") == "threshold" and "symptom" in e]
    assert [(a["key"], a["symptom"]["value"]) for a in alarms] == [("h2", 0.95), ("h2", 0.97)]
    anomalies = [e for e in sink.Events if isinstance(e, analyzer.Anomaly)]
    assert len(anomalies) == 1
    assert anomalies[0]["host"] == "h2"
    assert len(anomalies[0]["symptoms"]) == 2


def test_latch_and_time_drift_with_bspump_arguments(executor: ExecutorName) -> None:
    app = app_with("[pipeline:P:Latch]\nlatch_max_size = 2\n")
    pipeline = bspump.Pipeline(app, "P")
    latch = analyzer.LatchAnalyzer(app, pipeline, lambda e: e["n"] % 2 == 0, False, False, "Latch")
    drift = analyzer.TimeDriftAnalyzer(app, pipeline)
    sink = ListSink(app, pipeline)
    events = [{"n": n, "@timestamp": 1000.0 * n} for n in range(6)]
    pipeline.build(IteratorSource(app, pipeline, events), latch, drift, sink)
    clock = VirtualClock(start=10.0)
    pumpcore_executors.run(pipeline, executor=executor, clock=clock, **run_kwargs(executor))
    assert list(latch.Latch) == [events[2], events[4]]
    assert sink.Events == events
    assert drift.Counters == {"positive": 6, "negative": 0}


def test_bspump_argument_mistakes_are_named() -> None:
    assert bspump.analyzer is analyzer  # `import pumpcore_bspump as bspump` reaches it
    app = app_with()
    pipeline = bspump.Pipeline(app, "P")
    with pytest.raises(ConfigError, match="the first argument is the application"):
        RouteCounter(pipeline)
    with pytest.raises(ConfigError, match="at most 3 expected"):
        analyzer.Analyzer(app, pipeline, False, "id", {}, "extra")
    with pytest.raises(ConfigError, match="is not an Anomaly"):
        analyzer.AnomalyManager(app, pipeline, analyzer.AnomalyStorage(app), [dict])
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) longevity"):
        analyzer.AnomalyStorage(app, config={"longevity": 1})
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) lateness"):
        analyzer.TimeWindowMatrix(app, config={"lateness": 1})
    with pytest.raises(ConfigError, match="ThresholdAnalyzer 'Threshold': set lower_bound or"):
        analyzer.ThresholdAnalyzer(app, pipeline, "Threshold")


@pytest.mark.skipif(importlib.util.find_spec("mongoquery") is not None, reason="installed")
def test_a_mongo_query_without_mongoquery_is_named() -> None:
    app = app_with()
    with pytest.raises(ConfigError, match=r"a dict query needs mongoquery"):
        analyzer.LatchAnalyzer(app, bspump.Pipeline(app, "P"), {"n": {"$gt": 1}})


def test_without_numpy_the_module_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)  # import numpy raises ImportError
    monkeypatch.delitem(sys.modules, "pumpcore_bspump.analyzer")
    with pytest.raises(ImportError, match=r"needs numpy .* pip install 'pumpcore\[numpy\]'"):
        importlib.import_module("pumpcore_bspump.analyzer")


def test_time_window_analyzer_arguments_in_bspumps_order() -> None:
    app = app_with()
    pipeline = bspump.Pipeline(app, "P")
    # matrix_id, dtype, columns, analyze_on_clock, resolution, start_time, clock_driven, id
    counter = RouteCounter(app, pipeline, None, "i8", 4, True, 10, 1000, False, "Counter")
    matrix = counter.TimeWindow
    assert (matrix.Columns, matrix.Resolution, matrix.Start) == (4, 10, 1010)
    assert counter.AnalyzeOnClock
    assert not matrix.ClockDriven
    assert matrix.Id == "CounterMatrix"
    row = matrix.add_row("/a")
    assert matrix.Array.dtype == np.dtype("int64")
    assert matrix.get_column(995) is not None  # within the matrix before its head
    assert matrix.Array[row].tolist() == [0, 0, 0, 0]
