"""InfluxDBSink against a real influxd, on every executor: dicts and text as points, batches,
lines the server refuses isolated and dead-lettered, a missing database that makes flush raise
and acknowledges nothing, a restart of influxd mid-run that loses nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pumpcore_executors
import pytest
from pumpcore_files import FileLineSource
from pumpcore_influxdb import InfluxDBError, InfluxDBLineError, InfluxDBSink

from pumpcore import BlockingSink, BlockingSource, ConfigError, Context, Failure, Pipeline, Received
from pumpcore.common import IteratorSource
from pumpcore.testing import conformance

from .._config_ranges import NAN, assert_refused
from ._server import Influx, influxd

pytestmark = pytest.mark.timeout(60)

every_executor = pytest.mark.parametrize("executor", conformance.executor_params())


def run_kwargs(executor: str) -> dict[str, Any]:
    if executor in ("asyncio", "trio"):
        return {"blocking_threshold": 0.5, "handle_signals": False}
    return {"handle_signals": False}


def run(
    sink: InfluxDBSink, events: Sequence[Any] | BlockingSource, executor: str, *steps: Any
) -> tuple[pumpcore_executors.RunReport, list[Failure]]:
    p = Pipeline("Influx", error_policy="soft")
    source = events if isinstance(events, BlockingSource) else IteratorSource(list(events))
    p.build(source, *steps, sink)
    failures: list[Failure] = []
    p.add_failure_listener(failures.append)
    report = pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))  # type: ignore[arg-type]
    return report, failures


class DeadLetters(BlockingSink):
    """Keeps what was flushed to it."""

    def __init__(self) -> None:
        super().__init__(id="DeadLetters")
        self.waiting: list[Failure] = []
        self.durable: list[Failure] = []

    def process(self, context: Context, event: Failure) -> None:
        self.waiting.append(event)

    def flush(self) -> None:
        self.durable += self.waiting
        self.waiting = []


@every_executor
def test_dicts_and_text_become_points(influx: Influx, executor: str) -> None:
    db = influx.new_db()
    sink = InfluxDBSink(influx.connect(db), config={"precision": "s"})
    events = [
        {"measurement": "cpu", "tags": {"host": "a b"}, "fields": {"load": 0.5}, "time": 100},
        {
            "measurement": "cpu",
            "tags": {"host": "c"},
            "fields": {"load": 1.5, "n": 3},
            "time": 101.9,
        },
        {
            "measurement": "cpu",
            "fields": {"ok": True},
            "time": datetime(1970, 1, 1, 0, 1, 42, tzinfo=UTC),
        },
        "cpu,host=d load=2.5 103\ncpu,host=e load=3.5 104\n",
        b"mem free=7i 105",
        "mem free=8i",  # stamped now
    ]
    report, failures = run(sink, events, executor)
    assert failures == []
    rows = influx.rows(db, "SELECT * FROM cpu, mem GROUP BY *")
    cpu = sorted((r["time"], r["host"], r["load"]) for r in rows if r["measurement"] == "cpu")
    assert cpu == [
        ("1970-01-01T00:01:40Z", "a b", 0.5),
        ("1970-01-01T00:01:41Z", "c", 1.5),  # a float time is seconds, cut to the precision
        ("1970-01-01T00:01:42Z", "", None),  # no tag, no load: only the field "ok"
        ("1970-01-01T00:01:43Z", "d", 2.5),
        ("1970-01-01T00:01:44Z", "e", 3.5),
    ]
    mem = sorted(r["free"] for r in rows if r["measurement"] == "mem")
    assert mem == [7, 8]
    now = next(r for r in rows if r.get("free") == 8)["time"]
    assert abs(datetime.fromisoformat(now).timestamp() - time.time()) < 60
    assert sink.statistics().lines == 7
    assert report.statistics["Influx"].event_out == 6


@every_executor
def test_lines_go_in_batches(influx: Influx, executor: str) -> None:
    db = influx.new_db()
    sink = InfluxDBSink(influx.connect(db), config={"batch_size": 7})
    run(sink, [{"measurement": "m", "fields": {"n": n}, "time": n} for n in range(50)], executor)
    assert sink.statistics().requests >= 8
    assert [r["n"] for r in influx.rows(db, "SELECT n FROM m")] == list(range(50))


@every_executor
def test_refused_lines_are_isolated_counted_and_dead_lettered(
    influx: Influx, executor: str
) -> None:
    db = influx.new_db()
    dead = DeadLetters()
    sink = InfluxDBSink(influx.connect(db), dead_letter=dead)
    events: list[Any] = [{"measurement": "m", "fields": {"n": n}, "time": n} for n in range(40)]
    events[7] = {"measurement": "m", "fields": {"n": "seven"}, "time": 7}  # a type conflict
    events[20] = "m n=not a line 20"  # does not parse
    events[31] = {"measurement": "m", "fields": {"n": float("nan")}, "time": 31}  # not encodable
    report, failures = run(sink, events, executor)
    written = [r["n"] for r in influx.rows(db, "SELECT n FROM m")]
    assert written == [n for n in range(40) if n not in (7, 20, 31)]
    assert sink.statistics().dead_lettered == 2
    assert sink.statistics().splits >= 2
    assert sorted(str(f.event) for f in dead.durable) == sorted(
        ["m n=not a line 20", str(events[7])]
    )
    assert all(isinstance(f.exception, InfluxDBLineError) for f in dead.durable)
    assert report.statistics["Influx"].warning == 1  # the NaN, refused by the encoder
    assert "not finite" in str(failures[0].exception)


@every_executor
def test_a_missing_database_acknowledges_nothing_and_a_restart_writes_all(
    influx: Influx, tmp_path: Path, executor: str
) -> None:
    (tmp_path / "in.log").write_text("".join(f"m n={n}i {n}\n" for n in range(30)))

    def lines() -> FileLineSource:
        return FileLineSource(config={"path": str(tmp_path / "*.log"), "mode": "r", "watch": False})

    db = f"missing_{tmp_path.name[-8:]}".replace("-", "_")
    report, failures = run(InfluxDBSink(influx.connect(db)), lines(), executor)
    assert report.statistics["Influx"].source_error >= 1
    assert isinstance(failures[0].exception, InfluxDBError)
    assert failures[0].exception.status == 404
    assert (tmp_path / "in.log-locked").exists()  # nothing acknowledged
    influx.connect(db).query(f'CREATE DATABASE "{db}"')
    report, failures = run(InfluxDBSink(influx.connect(db)), lines(), executor)
    assert failures == []
    assert (tmp_path / "in.log-processed").exists()
    assert [r["n"] for r in influx.rows(db, "SELECT n FROM m")] == list(range(30))


class Trickle(BlockingSource):
    """Points 0..count-1, ten a read every 5 ms."""

    def __init__(self, count: int) -> None:
        super().__init__(id="Trickle")
        self.count, self.next, self.acknowledged = count, 0, 0

    def read(self, max_items: int) -> Sequence[Received] | None:
        if self.next >= self.count:
            return None
        time.sleep(0.005)
        stop = min(self.count, self.next + 10)
        items = [
            Received({"measurement": "m", "fields": {"n": n}, "time": n}, position=n)
            for n in range(self.next, stop)
        ]
        self.next = stop
        return items

    def acknowledge(self, positions: Sequence[Any]) -> None:
        self.acknowledged = positions[-1] + 1


@pytest.mark.slow
@every_executor
def test_a_restart_of_influxd_mid_run_loses_nothing(tmp_path: Path, executor: str) -> None:
    server = influxd(tmp_path / "influxd")
    with server:
        influx = Influx(server)
        db = influx.new_db()
        source = Trickle(300)
        sink = InfluxDBSink(influx.connect(db, retries=40))

        def bounce() -> None:
            while source.next < 100:
                time.sleep(0.005)
            server.stop()
            time.sleep(0.5)
            server.start()

        bouncer = threading.Thread(target=bounce)
        bouncer.start()
        try:
            _report, failures = run(sink, source, executor)
        finally:
            bouncer.join()
        assert failures == []
        assert source.acknowledged == 300
        assert sink.Connection.statistics().retries >= 1  # it did meet the gap
        assert [r["n"] for r in influx.rows(db, "SELECT n FROM m")] == list(range(300))


def test_configuration_mistakes_are_refused(influx: Influx) -> None:
    c = influx.connect("x")

    def make(config: dict[str, Any]) -> InfluxDBSink:
        return InfluxDBSink(c, config=config)

    make.__name__ = "InfluxDBSink"
    assert_refused(make, "precision", "h")
    assert_refused(make, "batch_size", 0)
    assert_refused(make, "batch_max_bytes", 10**12)
    with pytest.raises(ConfigError, match="'timeout' must be a finite number > 0, got nan"):
        influx.connect("x", timeout=NAN)
    with pytest.raises(ConfigError) as refused:
        influx.connect("x", password="hunter2")
    assert "hunter2" not in str(refused.value)
    assert "hunter2" not in repr(influx.connect("x", username="u", password="hunter2"))
    with pytest.raises(ConfigError, match="'db' must be a non-empty string"):
        influx.connect("")


@every_executor
def test_the_sink_conforms(influx: Influx, executor: str) -> None:
    db = influx.new_db()
    c = influx.connect(db)

    def event(i: int) -> dict[str, Any]:
        return {"measurement": "m", "fields": {"seq": i}, "time": i}

    def durable() -> list[Any]:
        return [event(r["seq"]) for r in influx.rows(db, "SELECT seq FROM m")]

    conformance.check_sink(lambda: InfluxDBSink(c), durable, executor, make_event=event)
