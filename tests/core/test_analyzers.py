"""Analyzers in the core, without an executor: time windows in event and clock time (scripted,
then properties on both matrix backends), sessions, thresholds, latches, time drift,
anomalies, snapshots, and the source positions window state holds."""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpcore import BlockingSource, ConfigError, Pipeline, Received
from pumpcore.analyzer import (
    Anomaly,
    AnomalyManager,
    LatchAnalyzer,
    SessionAnalyzer,
    ThresholdAnalyzer,
    TimeDriftAnalyzer,
    TimeDriftFilter,
    TimeWindowAnalyzer,
    TimeWindowMatrix,
)
from pumpcore.analyzer._cells import NumpyCells, PythonCells, make_cells
from pumpcore.common import InternalSource, ListSink
from pumpcore.testing import run_chain

HAS_NUMPY = importlib.util.find_spec("numpy") is not None
BACKENDS = [
    pytest.param("python", id="python"),
    pytest.param(
        "numpy",
        id="numpy",
        marks=pytest.mark.skipif(not HAS_NUMPY, reason="numpy not installed"),
    ),
]


class CountByKey(TimeWindowAnalyzer):
    """Events ``(key, time)``; counts per key per slot."""

    def evaluate(self, context: dict[str, Any], event: tuple[str, float]) -> None:
        key, ts = event
        matrix = self.TimeWindow
        row = matrix.get_row_index(key)
        if row is None:
            row = matrix.add_row(key)
        column = matrix.get_column(ts)
        if column is not None:
            matrix.Array[row][column] += 1


def windows(out: Sequence[Any]) -> list[Any]:
    return [e for e in out if isinstance(e, dict) and "window_start" in e]


# ---------------------------------------------------------------- scripted


@pytest.mark.parametrize("backend", BACKENDS)
def test_event_time_windows_close_once_in_order(backend: str) -> None:
    late: list[Any] = []
    analyzer = CountByKey(
        resolution=10,
        columns=3,
        config={"allowed_lateness": 5},
        backend=backend,  # type: ignore[arg-type]
        late_output=lambda context, event: late.append(event),
    )
    events = [("a", 1), ("b", 2), ("a", 12), ("a", 9), ("a", 16), ("a", 3), ("a", 40), ("b", 41)]
    out = run_chain([analyzer], events)
    assert out[: len(events)] == events  # an analyzer passes events on unchanged
    assert [(w["window_start"], w["values"]) for w in windows(out)] == [
        (0, {"a": 2, "b": 1}),  # ("a", 9) came within the lateness: counted in slot 0
        (10, {"a": 2}),
        (40, {"a": 1, "b": 1}),  # emitted at stop, partial
    ]
    assert late == [("a", 3)]  # slot 0 closed when 16 arrived (watermark 11)
    assert analyzer.TimeWindow.Counters == {"events.late": 1, "events.early": 0}


def test_a_closed_window_is_emitted_once_and_before_its_column_is_reused() -> None:
    analyzer = CountByKey(resolution=1, columns=2)
    out = run_chain([analyzer], [("k", t + 0.5) for t in range(6)])
    assert [(w["window_start"], w["values"]) for w in windows(out)] == [
        (t, {"k": 1}) for t in range(6)
    ]


def test_early_limit_refuses_a_jump_in_event_time() -> None:
    early: list[Any] = []
    analyzer = CountByKey(
        resolution=10,
        columns=2,
        config={"early_limit": 60},
        early_output=lambda context, event: early.append(event),
    )
    out = run_chain([analyzer], [("a", 1), ("a", 5000), ("a", 65), ("a", 4)])
    assert early == [("a", 5000)]  # 5000 is more than 60 s after the head's end (10)
    assert [(w["window_start"], w["values"]) for w in windows(out)] == [
        (0, {"a": 1}),
        (60, {"a": 1}),
    ]
    assert analyzer.TimeWindow.Counters == {"events.late": 1, "events.early": 1}


def test_clock_driven_windows_follow_the_pipeline_time() -> None:
    analyzer = CountByKey(
        resolution=10, columns=3, clock_driven=True, config={"allowed_lateness": 20}
    )
    sink = ListSink()
    p = Pipeline("P")
    p.build([], analyzer, sink)
    p.tick(100.0)  # head: slot 10, [100, 110); watermark 80
    p.process_events([("a", 101), ("a", 95), ("a", 111), ("a", 85), ("a", 79)])
    assert analyzer.TimeWindow.Counters == {"events.late": 1, "events.early": 1}
    assert analyzer.next_awake() == 110.0  # slot 8 closes (watermark 90), slot 11 starts
    p.tick(110.0)
    assert windows(sink.Events) == [
        {"analyzer": "CountByKey", "window_start": 80, "window_end": 90, "values": {"a": 1}},
    ]
    p.process_events([("a", 105), ("a", 88)])
    p.tick(130.0)
    assert [(w["window_start"], w["values"]) for w in windows(sink.Events)[1:]] == [
        (90, {"a": 1}),
        (100, {"a": 2}),
    ]
    assert analyzer.TimeWindow.Counters["events.late"] == 2


def test_allowed_lateness_must_fit_in_the_matrix() -> None:
    with pytest.raises(ConfigError, match=r"allowed_lateness.*at most.*20.*got 25"):
        CountByKey(resolution=10, columns=3, config={"allowed_lateness": 25})
    with pytest.raises(ConfigError, match="resolution"):
        TimeWindowMatrix(resolution=0)
    with pytest.raises(ConfigError, match=r"'Bad'.*columns.*0"):
        CountByKey(id="Bad", columns=0)


def test_numpy_backend_refuses_without_numpy_and_unknown_backends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pumpcore.analyzer import _cells

    monkeypatch.setattr(_cells, "HAS_NUMPY", False)
    with pytest.raises(ValueError, match="numpy"):
        make_cells(3, "float_", "numpy")
    with pytest.raises(ValueError, match="'gpu'"):
        make_cells(3, "float_", "gpu")  # type: ignore[arg-type]
    assert isinstance(make_cells(3, "i8", "python"), PythonCells)


@pytest.mark.skipif(not HAS_NUMPY, reason="numpy not installed")
def test_numpy_cells_grow_and_keep_their_rows() -> None:
    cells = make_cells(2, "i8", "numpy")
    assert isinstance(cells, NumpyCells)
    for i in range(40):
        assert cells.add_row() == i
        cells.Array[i][1] = i
    assert cells.column(1) == list(range(40))
    cells.clear_column(1)
    assert cells.column(1) == [0] * 40


# ---------------------------------------------------------------- properties


@st.composite
def streams_within_lateness(draw: st.DrawFn) -> tuple[list[tuple[str, float]], float]:
    """Events in time order, then each delayed by at most the lateness: every event arrives
    no more than ``lateness`` after the latest event time seen before it."""
    lateness = draw(st.sampled_from([0.0, 5.0, 10.0, 20.0]))
    times = draw(st.lists(st.floats(0, 200, allow_nan=False), max_size=60))
    keys = draw(st.lists(st.sampled_from("abc"), min_size=len(times), max_size=len(times)))
    delays = draw(
        st.lists(st.floats(0, lateness, allow_nan=False), min_size=len(times), max_size=len(times))
    )
    order = sorted(range(len(times)), key=lambda i: (times[i] + delays[i], i))
    return [(keys[i], times[i]) for i in order], lateness


def run_counts(
    events: Sequence[tuple[str, float]], lateness: float, backend: str
) -> tuple[list[Any], CountByKey]:
    analyzer = CountByKey(
        resolution=10,
        columns=4,
        config={"allowed_lateness": lateness},
        backend=backend,  # type: ignore[arg-type]
    )
    return windows(run_chain([analyzer], events)), analyzer


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60, deadline=None)
@given(stream=streams_within_lateness())
def test_disorder_within_the_lateness_gives_the_sorted_streams_windows(
    backend: str, stream: tuple[list[tuple[str, float]], float]
) -> None:
    events, lateness = stream
    shuffled, analyzer = run_counts(events, lateness, backend)
    ordered, _ = run_counts(sorted(events, key=lambda e: e[1]), lateness, backend)
    assert shuffled == ordered
    assert analyzer.TimeWindow.Counters == {"events.late": 0, "events.early": 0}
    assert sum(sum(w["values"].values()) for w in shuffled) == len(events)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(st.tuples(st.sampled_from("ab"), st.floats(-50, 300)), max_size=60),
    lateness=st.sampled_from([0.0, 15.0]),
    early_limit=st.sampled_from([0.0, 25.0]),
)
def test_nothing_is_dropped_uncounted(
    backend: str, events: list[tuple[str, float]], lateness: float, early_limit: float
) -> None:
    late: list[Any] = []
    early: list[Any] = []
    analyzer = CountByKey(
        resolution=10,
        columns=3,
        config={"allowed_lateness": lateness, "early_limit": early_limit},
        backend=backend,  # type: ignore[arg-type]
        late_output=lambda context, event: late.append(event),
        early_output=lambda context, event: early.append(event),
    )
    out = run_chain([analyzer], events)
    found = windows(out)
    counted = sum(sum(w["values"].values()) for w in found)
    counters = analyzer.TimeWindow.Counters
    assert counted + counters["events.late"] + counters["events.early"] == len(events)
    assert (len(late), len(early)) == (counters["events.late"], counters["events.early"])
    starts = [w["window_start"] for w in found]
    assert len(starts) == len(set(starts))  # each window emitted once


# ---------------------------------------------------------------- positions held


def test_window_state_holds_back_the_positions_it_depends_on() -> None:
    source, sink = BlockingSource(), ListSink()
    analyzer = CountByKey(resolution=10, columns=2)
    p = Pipeline("P")
    p.build(source, analyzer, sink)
    source.feed([Received(("a", 1), position=1), Received(("a", 12), position=2)], 0.0)
    assert source.pump(1) == 1
    assert source.ledger.take_done() == []  # slot 0 is open: position 1 waits
    assert source.pump(1) == 1  # 12 closes slot 0 (watermark 12): emitted at the next tick
    assert source.ledger.take_done() == []
    p.tick(0.0)
    assert windows(sink.Events) == [windows(sink.Events)[0]]
    assert source.ledger.take_done() == [1]
    p.stop(0.0)
    assert source.ledger.take_done() == [2]


# ---------------------------------------------------------------- snapshots


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=30, deadline=None)
@given(stream=streams_within_lateness(), cut=st.integers(0, 60))
def test_a_restored_snapshot_continues_the_open_windows(
    backend: str, stream: tuple[list[tuple[str, float]], float], cut: int
) -> None:
    events, lateness = stream
    whole, _ = run_counts(events, lateness, backend)
    first = CountByKey(
        resolution=10,
        columns=4,
        config={"allowed_lateness": lateness},
        backend=backend,  # type: ignore[arg-type]
    )
    p = Pipeline("P")
    sink = ListSink()
    p.build([], first, sink)
    p.process_events(events[:cut])
    p.tick(0.0)  # windows closed so far go on; the open ones stay in the snapshot
    data = first.snapshot()
    second = CountByKey(
        resolution=10,
        columns=4,
        config={"allowed_lateness": lateness},
        backend=backend,  # type: ignore[arg-type]
    )
    second.restore(data)
    rest = windows(run_chain([second], events[cut:]))
    assert windows(sink.Events) + rest == whole


# ---------------------------------------------------------------- sessions


def test_sessions_close_after_the_gap_by_watermark_and_at_stop() -> None:
    class Visits(SessionAnalyzer):
        def evaluate(self, context: dict[str, Any], event: tuple[str, float]) -> None:
            row = self.get_session(event[0], event[1])
            if row is not None:
                self.Sessions.Array[row][0] += 1

    visits = Visits(config={"session_gap": 10, "allowed_lateness": 5})
    events = [("a", 0), ("b", 1), ("a", 8), ("b", 30), ("a", 3), ("b", 2), ("a", 40)]
    out = [e for e in run_chain([visits], events) if isinstance(e, dict)]
    got = [(s["id"], s["count"], s["session_start"], s["session_end"]) for s in out]
    # 30 moves the watermark to 25: b's first session (latest 1) and a's (latest 8) are over
    # (1 + 10 and 8 + 10 <= 25), so ("a", 3) and ("b", 2) are late.
    assert got == [("b", 1.0, 1, 1), ("a", 2.0, 0, 8), ("b", 1.0, 30, 30), ("a", 1.0, 40, 40)]
    assert visits.Counters == {"events.late": 2, "sessions.closed": 4}


# ---------------------------------------------------------------- threshold, anomalies


def test_threshold_alarms_feed_the_anomaly_manager() -> None:
    bursts = ThresholdAnalyzer(
        clock_driven=False,
        analyze_on_clock=False,
        analyze_on_close=True,
        config={"event_attribute": "route", "upper_bound": 2, "columns": 5, "resolution": 60},
    )
    manager = AnomalyManager()
    per_minute = {0: 1, 1: 5, 2: 1, 3: 4, 4: 0, 5: 1}
    events = [
        {"route": "/a", "@timestamp": minute * 60 + i}
        for minute, n in per_minute.items()
        for i in range(n)
    ]
    out = run_chain([bursts, manager], events)
    alarms = [e for e in out if isinstance(e, dict) and "symptom" in e]
    # Minute 1 (5 > 2) alarms once; minute 3 alarms again (2 out of bounds in the window).
    assert [(a["@timestamp"], a["symptom"]["occurrence"]) for a in alarms] == [(60, 1), (180, 2)]
    [anomaly] = [e for e in out if isinstance(e, Anomaly)]
    assert anomaly["route"] == "/a"
    assert len(anomaly["symptoms"]) == 2


def test_threshold_needs_a_bound() -> None:
    with pytest.raises(ConfigError, match="lower_bound or upper_bound"):
        ThresholdAnalyzer(config={"event_attribute": "x"})
    with pytest.raises(ConfigError, match="upper_bound 'lots'"):
        ThresholdAnalyzer(config={"event_attribute": "x", "upper_bound": "lots"})


def test_anomalies_close_by_time_and_are_flushed_holding_their_symptoms() -> None:
    source, sink = BlockingSource(), ListSink()
    manager = AnomalyManager(config={"flush_period": 10, "close_rules": "default:30"})
    p = Pipeline("P")
    p.build(source, manager, sink)
    symptom = {"@timestamp": 5, "key": "k", "key_dimensions": {"host": "h"}, "type": "t"}
    source.feed([Received({**symptom, "symptom": {"@timestamp": 5}}, position=1)], 0.0)
    p.tick(0.0)
    source.pump(10)
    p.tick(0.0)  # the flush grid starts
    assert source.ledger.take_done() == []  # the symptom waits in its open anomaly
    p.tick(10.0)  # still open: a copy goes on for persistence, holding nothing
    assert [e["status"] for e in sink.Events if isinstance(e, Anomaly)] == ["open"]
    assert source.ledger.take_done() == []
    p.tick(40.0)  # 40 > 5 + 30: closed; flushed once older than the longevity (5 s)
    p.tick(50.0)
    assert [e["status"] for e in sink.Events if isinstance(e, Anomaly)] == ["open", "closed"]
    assert source.ledger.take_done() == [1]


# ---------------------------------------------------------------- latch, time drift


def test_latch_keeps_what_the_query_selects() -> None:
    latch = LatchAnalyzer(query=lambda e: e % 2 == 0, inclusive=True)
    assert run_chain([latch], range(6)) == list(range(6))
    assert list(latch.Latch) == [1, 3, 5]
    none = LatchAnalyzer(query=False)
    run_chain([none], range(3))
    assert list(none.Latch) == []
    with pytest.raises(ConfigError, match="query"):
        LatchAnalyzer(query={"a": 1})  # type: ignore[arg-type]


def test_time_drift_uses_the_pipeline_time() -> None:
    drift_filter, sink = TimeDriftFilter(), ListSink()
    p = Pipeline("P")
    p.build([], drift_filter, sink)
    p.tick(1000.0)
    p.process_events([{"@timestamp": 999}, {"@timestamp": 900}, {}])  # seconds
    assert drift_filter.Counters == {
        "event.in": 3,
        "event.out": 1,
        "event.drop": 1,
        "timestamp.error": 1,
    }
    assert p.statistics().event_drop == 2  # the pipeline counts them too

    analyzer = TimeDriftAnalyzer()
    q = Pipeline("Q")
    q.build([], analyzer, ListSink())
    q.tick(1000.0)  # the analysis grid starts
    q.process_events([{"@timestamp": 990_000}, {"@timestamp": 996_000}, {"@timestamp": 2e6}])
    q.tick(1200.0)  # the first point of the 300 s grid
    assert analyzer.Counters == {"positive": 2, "negative": 1}
    assert analyzer.Gauge == {"avg": 7.0, "median": 7.0, "stddev": 3.0, "min": 4.0, "max": 10.0}
    q.tick(1500.0)  # nothing new: the gauge goes back to zero
    assert analyzer.Gauge["max"] == 0.0


def test_a_durable_snapshot_releases_the_positions_of_the_open_windows() -> None:
    source, sink, snapshots = BlockingSource(), ListSink(), ListSink()
    store = Pipeline("Snapshots")
    store.build(InternalSource(), snapshots)
    store_input = store.locate_source("InternalSource")
    assert isinstance(store_input, InternalSource)
    analyzer = CountByKey(
        resolution=10, columns=2, snapshot_output=store_input.put, config={"snapshot_period": 5}
    )
    p = Pipeline("P")
    p.build(source, analyzer, sink)
    p.tick(0.0)  # the snapshot grid starts: the first at 5
    source.feed([Received(("a", 1), position=1), Received(("a", 2), position=2)], 0.0)
    source.pump(10)
    assert source.ledger.take_done() == []  # slot 0 open: held
    p.tick(5.0)
    assert source.ledger.take_done() == []  # the snapshot is queued, not yet written
    store_input.pump(10)
    [snapshot] = snapshots.Events
    assert snapshot["analyzer"] == "CountByKey"
    assert source.ledger.take_done() == [1, 2]  # the snapshot reached its sink: released
    source.feed([Received(("a", 3), position=3)], 0.0)
    source.pump(10)
    assert source.ledger.take_done() == []  # a new batch in the open slot is held again
    p.stop(6.0)  # with a snapshot output, the stop snapshots instead of emitting
    assert windows(sink.Events) == []
    store_input.pump(10)
    assert source.ledger.take_done() == [3]
    restarted = CountByKey(resolution=10, columns=2)
    restarted.restore(snapshots.Events[-1]["snapshot"])
    out = windows(run_chain([restarted], [("a", 4), ("b", 15)]))
    assert [(w["window_start"], w["values"]) for w in out] == [(0, {"a": 4}), (10, {"b": 1})]


def test_session_snapshots_continue_the_open_sessions() -> None:
    class Visits(SessionAnalyzer):
        def evaluate(self, context: dict[str, Any], event: tuple[str, float]) -> None:
            row = self.get_session(event[0], event[1])
            if row is not None:
                self.Sessions.Array[row][0] += 1

    events = [("a", 0), ("b", 1), ("a", 8), ("b", 30), ("a", 35), ("a", 50), ("c", 70)]
    whole = run_chain([Visits(config={"session_gap": 10})], events)
    saved: list[Any] = []
    first = Visits(config={"session_gap": 10}, snapshot_output=lambda c, e: saved.append(e))
    before = run_chain([first], events[:4])
    second = Visits(config={"session_gap": 10})
    second.restore(saved[-1]["snapshot"])
    after = run_chain([second], events[4:])
    sessions = [e for e in before + after if isinstance(e, dict)]
    assert sessions == [e for e in whole if isinstance(e, dict)]


class Visits(SessionAnalyzer):
    def evaluate(self, context: dict[str, Any], event: tuple[str, float]) -> None:
        row = self.get_session(event[0], event[1])
        if row is not None:
            self.Sessions.Array[row][0] += 1


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 200)), max_size=60),
    lateness=st.sampled_from([0.0, 20.0]),
)
def test_sessions_count_every_event_once(
    backend: str, events: list[tuple[str, int]], lateness: float
) -> None:
    visits = Visits(config={"session_gap": 15, "allowed_lateness": lateness}, backend=backend)  # type: ignore[arg-type]
    sessions = [e for e in run_chain([visits], events) if isinstance(e, dict)]
    assert sum(s["count"] for s in sessions) + visits.Counters["events.late"] == len(events)
    for key in "ab":
        spans = sorted((s["session_start"], s["session_end"]) for s in sessions if s["id"] == key)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start - end >= 15  # sessions of a key never overlap nor touch within the gap
    if events == sorted(events, key=lambda e: e[1]):
        assert visits.Counters["events.late"] == 0  # in order, nothing is late


def test_analyze_runs_on_a_trigger_and_its_events_go_on() -> None:
    from pumpcore.analyzer import Analyzer
    from pumpcore.trigger import PeriodicTrigger

    class Report(Analyzer):
        seen = 0

        def evaluate(self, context: dict[str, Any], event: Any) -> None:
            self.seen += 1

        def analyze(self) -> list[Any]:
            return [{"seen": self.seen}]

    sink = ListSink()
    p = Pipeline("P")
    p.build([], Report(trigger=PeriodicTrigger(10)), sink)
    p.tick(100.0)  # the trigger starts and fires at once
    p.process_events(["a", "b"])
    assert p.next_awake() == 110.0
    p.tick(105.0)  # not due
    p.tick(110.0)
    assert sink.Events == [{"seen": 0}, "a", "b", {"seen": 2}]


def test_the_config_file_section_shapes_the_matrix() -> None:
    from pumpcore import Settings, use_settings

    settings_ = Settings.from_ini("[pipeline:P:CountByKey]\nresolution = 30\ncolumns = 4\n")
    with use_settings(settings_):
        analyzer = CountByKey()
        p = Pipeline("P")
        p.build([], analyzer, ListSink())
    assert (analyzer.TimeWindow.Resolution, analyzer.TimeWindow.Columns) == (30.0, 4)
    late = Settings.from_ini("[pipeline:P:CountByKey]\nallowed_lateness = 900\n")
    with (
        use_settings(late),
        pytest.raises(ConfigError, match=r"CountByKeyMatrix: allowed_lateness .* 840.* got 900"),
    ):
        Pipeline("P").build([], CountByKey(), ListSink())


def test_restore_then_resume_after_skips_a_window_the_output_already_has() -> None:
    # The snapshot saw slot 0 open with one event; slot 0 was then emitted whole (and its later
    # events acknowledged), the pump crashed: the restart must not emit slot 0 again, partial,
    # nor an empty window when the clock reuses its column.
    first = CountByKey(resolution=10, columns=3, clock_driven=True)
    first.TimeWindow.advance(0.0)
    first.process({}, ("a", 1))
    data = first.snapshot()
    restarted = CountByKey(resolution=10, columns=3, clock_driven=True)
    restarted.restore(data)
    restarted.resume_after(0)
    sink = ListSink()
    p = Pipeline("P")
    p.build([], restarted, sink)
    p.tick(5.0)
    p.process_events([("a", 5), ("a", 6)])
    for now in (10.0, 20.0, 30.0, 40.0, 50.0):
        p.tick(now)
    p.stop(50.0)
    assert [(w["window_start"], w["values"]) for w in windows(sink.Events)] == []
    assert restarted.TimeWindow.Counters["events.late"] == 2


def test_a_resumed_analyzer_keeps_its_state_when_it_joins_a_pipeline() -> None:
    from pumpcore import Settings, use_settings

    analyzer = CountByKey(resolution=10, columns=3)
    analyzer.resume_after(10)  # before build, as a restarting pump does
    p = Pipeline("P")
    p.build([], analyzer, ListSink())
    assert analyzer.TimeWindow.watermark == 20
    reshaped = CountByKey(resolution=10, columns=3)
    reshaped.resume_after(10)
    with (
        use_settings(Settings.from_ini("[pipeline:P:CountByKey]\nallowed_lateness = 5\n")),
        pytest.raises(ConfigError, match=r"'CountByKey'.*changed to .*after the matrix took"),
    ):
        Pipeline("P").build([], reshaped, ListSink())
