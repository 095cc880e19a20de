"""The demo pump on the bundled data: every line accounted for, windows and 5xx bursts written
as JSON lines, the same on every executor."""

from __future__ import annotations

import gzip
import io
import time
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import pytest
from pumpcore_executors._cli import main
from pumpcore_executors._demo import MinuteWindows, run_demo, server_error_bursts

from pumpcore import BlockingSource, Pipeline, Received
from pumpcore.common import ListSink
from pumpcore.testing import conformance, run_chain

pytestmark = pytest.mark.timeout(60)


def summary_numbers(summary: str) -> dict[str, int]:
    return {
        label.strip(): int(value.split()[0].replace(",", ""))
        for label, value in (line.split(":", 1) for line in summary.splitlines()[1:])
    }


def test_demo_accounts_for_every_line(tmp_path: Path) -> None:
    out = io.StringIO()
    output = tmp_path / "windows.jsonl"
    assert run_demo(output, out=out) == 0
    windows = [orjson.loads(line) for line in output.read_text().splitlines()]
    summary = out.getvalue()
    assert "200,000 log lines" in summary
    numbers = summary_numbers(summary)
    windowed = sum(w["requests"] for w in windows)
    assert windowed == numbers["parsed and windowed"]
    total = windowed + numbers["health checks dropped"] + numbers["malformed lines"]
    assert total == 200_000
    assert numbers["malformed lines"] > 0  # the sample has truncated lines on purpose
    assert numbers["minute windows"] == len(windows)
    starts = [w["window_start"] for w in windows]
    assert starts == sorted(starts)
    assert len(set(starts)) == len(starts)
    bursts = [
        orjson.loads(line) for line in (tmp_path / "anomalies.jsonl").read_text().splitlines()
    ]
    assert numbers["5xx bursts"] == len(bursts) > 0
    per_minute = {w["window_start"]: w["errors_5xx"] for w in windows}
    assert numbers["5xx analyzed"] == sum(per_minute.values())
    for burst in bursts:
        # The analyzer's count of the minute is the minute window's, and above the bound.
        minute = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(burst["@timestamp"]))
        assert burst["symptom"]["value"] == per_minute[minute] > 30
        assert burst["symptom"]["occurrence"] >= 2


def test_a_burst_is_a_minute_over_the_bound_in_a_sliding_window() -> None:
    def errors(minute: int, n: int) -> list[dict[str, Any]]:
        return [{"status_class": "5xx", "time": minute * 60 + i} for i in range(n)]

    counts = [40, 5, 5, 5, 5, 40, 5, 40, 40, 5]  # minutes 0..9
    events = [e for minute, n in enumerate(counts) for e in errors(minute, n)]
    out = run_chain([server_error_bursts()], events)
    found = [(e["@timestamp"] // 60, e["symptom"]["occurrence"]) for e in out if "symptom" in e]
    # Minute 0 and 5 are alone in their 5-minute window; 7 makes two with 5, 8 three.
    assert found == [(7, 2), (8, 3)]


def read_if_any(path: Path) -> str:
    return path.read_text() if path.exists() else ""


@pytest.fixture(scope="module")
def small_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample's first 20,000 lines, gzipped: enough for several windows."""
    bundled = resources.files("pumpcore_executors") / "demo_data" / "access.log.gz"
    with bundled.open("rb") as raw, gzip.open(raw) as lines:
        head = b"".join(line for _, line in zip(range(20_000), lines, strict=False))
    path = tmp_path_factory.mktemp("log") / "small.log.gz"
    path.write_bytes(gzip.compress(head))
    return path


@pytest.fixture(scope="module")
def sync_run(small_log: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    output = tmp_path_factory.mktemp("sync") / "windows.jsonl"
    assert run_demo(output, "sync", out=io.StringIO(), log=small_log) == 0
    return output.read_text(), read_if_any(output.with_name("anomalies.jsonl"))


@pytest.fixture(scope="module")
def sync_windows(sync_run: tuple[str, str]) -> str:
    return sync_run[0]


@pytest.fixture(scope="module")
def sync_bursts(sync_run: tuple[str, str]) -> str:
    return sync_run[1]


@pytest.mark.parametrize("executor", conformance.executor_params())
def test_the_demo_writes_the_same_windows_on_every_executor(
    executor: str, small_log: Path, sync_windows: str, sync_bursts: str, tmp_path: Path
) -> None:
    out = io.StringIO()
    output = tmp_path / "windows.jsonl"
    assert run_demo(output, executor, out=out, log=small_log) == 0  # type: ignore[arg-type]
    assert output.read_text() == sync_windows
    assert read_if_any(tmp_path / "anomalies.jsonl") == sync_bursts
    numbers = summary_numbers(out.getvalue())
    windows = [orjson.loads(line) for line in sync_windows.splitlines()]
    assert numbers["minute windows"] == len(windows) > 1
    counted = numbers["parsed and windowed"] + numbers["health checks dropped"]
    assert counted + numbers["malformed lines"] == 20_000
    assert small_log.exists()  # the demo read a copy


def test_minute_windows_hold_their_open_window() -> None:
    source, sink = BlockingSource(), ListSink()
    p = Pipeline("P")
    p.build(source, MinuteWindows(), sink)

    def at(t: int) -> dict[str, Any]:
        return {"time": t, "ms": 1, "status": 200, "size": 1, "bot": False, "route": "/"}

    source.feed([Received(at(60), position=1), Received(at(70), position=2)], 0.0)
    assert source.pump(1) == 1
    assert source.pump(1) == 1
    assert source.ledger.take_done() == []  # no position may be acknowledged: window open
    source.feed([Received(at(130), position=3)], 0.0)
    assert source.pump(1) == 1  # the minute closes: its events went on, the new one waits
    assert len(sink.Events) == 1
    assert source.ledger.take_done() == [1, 2]
    p.stop(0.0)
    assert len(sink.Events) == 2
    assert source.ledger.take_done() == [3]


def test_cli_demo_writes_where_asked(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "w.jsonl"
    assert main(["demo", "--output", str(target)]) == 0
    assert target.exists()
    assert target.stat().st_size > 0
