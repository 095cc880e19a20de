"""The demo pump: web-access log lines → parsed → enriched → per-minute windows → JSON lines,
and a second stage: the 5xx answers go to a sliding-window analyzer that reports bursts.

Everything here is ordinary user code: the processors are plain functions and classes a user
would write, the pipelines are built the BSPump way, and an executor runs them. The log is read
by ``pumpcore_files.FileLineSource`` and the results are written by ``FileJSONLinesSink``, so
the demo runs the same at-least-once machinery (positions, commits, durable flushes) as a real
pump: a log line is acknowledged only once its minute window and its 5xx window are written.
"""

from __future__ import annotations

import calendar
import re
import shutil
import tempfile
import time
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from pumpcore import Context, Generator, Pipeline
from pumpcore.analyzer import ThresholdAnalyzer
from pumpcore.common import InternalSource, RouterProcessor
from pumpcore.lowlevel import NO_ORIGIN, Held, Origin, current_origin

from ._run import ExecutorName, run

LINE = re.compile(
    r"(?P<ip>\S+) \S+ \S+ \[(?P<day>\d\d)/(?P<mon>\w{3})/(?P<year>\d{4}):(?P<hms>[\d:]{8}) "
    r'[+-]\d{4}\] "(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) (?P<size>\d+) '
    r'"[^"]*" "(?P<agent>[^"]*)" (?P<ms>\d+)$'
)
MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}
ID_SEGMENT = re.compile(r"/\d+(?=/|$)")


def parse_line(context: Context, line: str) -> dict[str, Any]:
    """One access-log line → a dict; a malformed line raises (the error policy counts it)."""
    match = LINE.match(line)
    if match is None:
        raise ValueError(f"not an access-log line: {line[:60]!r}")
    h, m, s = (int(x) for x in match["hms"].split(":"))
    ts = calendar.timegm(
        (int(match["year"]), MONTHS[match["mon"]], int(match["day"]), h, m, s, 0, 0, 0)
    )
    return {
        "time": ts,
        "ip": match["ip"],
        "method": match["method"],
        "path": match["path"],
        "status": int(match["status"]),
        "size": int(match["size"]),
        "ms": int(match["ms"]),
        "bot": "bot" in match["agent"].lower(),
    }


def enrich(context: Context, event: dict[str, Any]) -> dict[str, Any]:
    """Add the route (ids folded, query dropped) and the status class."""
    path = event["path"].split("?", 1)[0]
    event["route"] = ID_SEGMENT.sub("/{id}", path)
    event["status_class"] = f"{event['status'] // 100}xx"
    return event


def drop_health_checks(context: Context, event: dict[str, Any]) -> dict[str, Any] | None:
    """Health checks are noise for traffic statistics."""
    return None if event["route"] == "/health" else event


class MinuteWindows(Generator):
    """Per-minute windows over event time; a window is emitted when a later minute begins.

    Lines arrive in time order here; an event older than the open window is counted as late
    (``self.late``) and folded into the open window rather than lost.

    The open window keeps events between calls, so it holds their origin (``hold``) and emits
    the window as ``Held``: the file's offsets are acknowledged up to the last closed window,
    never past an event that sits in the open one (a crash would otherwise lose it).
    """

    def __init__(self) -> None:
        super().__init__()
        self._start: int | None = None
        self._events: list[dict[str, Any]] = []
        self._origin: Origin = NO_ORIGIN
        self.late = 0

    def generate(self, context: Context, event: dict[str, Any]) -> list[Held]:
        """Add the event to its window; return the windows it closed."""
        minute = event["time"] - event["time"] % 60
        out = []
        if self._start is None:
            self._start = minute
        elif minute > self._start:
            out.append(Held({}, self._summary(), self._origin))
            self._start, self._events, self._origin = minute, [], NO_ORIGIN
        elif minute < self._start:
            self.late += 1
        self._events.append(event)
        self._origin = self._origin.absorb(current_origin())
        return out

    def on_stop(self, now: float) -> list[Held]:
        """Emit the window still open."""
        if not self._events:
            return []
        summary, origin = self._summary(), self._origin
        self._events, self._origin = [], NO_ORIGIN
        return [Held({}, summary, origin)]

    def _summary(self) -> dict[str, Any]:
        events = self._events
        latencies = sorted(e["ms"] for e in events)
        return {
            "window_start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._start)),
            "requests": len(events),
            "errors_5xx": sum(1 for e in events if e["status"] >= 500),
            "bytes": sum(e["size"] for e in events),
            "p95_ms": latencies[int(len(latencies) * 0.95)] if latencies else 0,
            "bots": sum(1 for e in events if e["bot"]),
            "top_route": Counter(e["route"] for e in events).most_common(1)[0][0],
        }


class ServerErrorsTo(RouterProcessor):
    """Routes the 5xx answers to the burst pipeline as well; every event goes on."""

    def __init__(self, target: InternalSource) -> None:
        super().__init__()
        self.Target = target

    def process(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Route a 5xx event (the analyzer only reads it: no copy needed)."""
        if event["status"] >= 500:
            self.route({}, event, self.Target)
        return event


def server_error_bursts() -> ThresholdAnalyzer:
    """5xx answers per minute of event time over a sliding window of 5 minutes: a burst is a
    minute above 30 when at least 2 of the last 5 closed minutes were (BSPump's
    ThresholdAnalyzer, configured only; event time because the log is history)."""
    return ThresholdAnalyzer(
        id="ServerErrorBursts",
        clock_driven=False,
        analyze_on_clock=False,
        analyze_on_close=True,
        config={
            "event_attribute": "status_class",
            "time_attribute": "time",
            "upper_bound": 30,
            "anomaly_occurrence": 2,
            "resolution": 60,
            "columns": 5,
            "allowed_lateness": 60,
        },
    )


def bursts_only(context: Context, event: dict[str, Any]) -> dict[str, Any] | None:
    """The analyzer passes the 5xx events on; keep only what it reported."""
    return event if "symptom" in event else None


def _copy_log(folder: Path, log: Path | None) -> Path:
    """Copy the log to read into ``folder``: the file source locks and removes what it reads,
    which must never be the installed package's own file (nor the caller's)."""
    data = log or resources.files("pumpcore_executors") / "demo_data" / "access.log.gz"
    target = folder / "access.log.gz"
    with data.open("rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return target


def run_demo(
    output: Path,
    executor: ExecutorName = "sync",
    out: TextIO | None = None,
    log: Path | None = None,
) -> int:
    """Run the demo pump, write windows to ``output``, 5xx bursts to ``anomalies.jsonl`` beside
    it, and print a summary to ``out``.

    Args:
        output: the JSON-lines file the windows go to (replaced).
        executor: the executor to run on.
        out: where the summary is printed (standard output when None).
        log: a gzipped access log to read instead of the bundled sample (200,000 synthetic
            lines, a few truncated on purpose).

    Returns:
        The exit status: 0, or 1 when a hard error stopped the pipeline.
    """
    from pumpcore_files import FileJSONLinesSink, FileLineSource

    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pumpcore-demo-") as work:
        _copy_log(Path(work), log)
        started = time.perf_counter()
        windows = MinuteWindows()
        bursts = server_error_bursts()
        anomalies = output.with_name("anomalies.jsonl")
        anomalies.unlink(missing_ok=True)  # a run without bursts must not show an old run's
        burst_pipeline = Pipeline("ErrorBurstPipeline")
        burst_pipeline.build(
            InternalSource(),
            bursts,
            bursts_only,
            FileJSONLinesSink(config={"path": str(anomalies), "mode": "w"}),
        )
        burst_input = burst_pipeline.locate_source("InternalSource")
        assert isinstance(burst_input, InternalSource)
        pipeline = Pipeline("AccessLogPipeline", error_policy="soft")
        pipeline.build(
            FileLineSource(
                config={
                    "path": str(Path(work) / "*.gz"),
                    "mode": "r",
                    "post": "delete",
                    "watch": False,  # read what is there, then end the run
                    "read_size": 1024,
                }
            ),
            parse_line,
            enrich,
            drop_health_checks,
            ServerErrorsTo(burst_input),
            windows,
            FileJSONLinesSink(config={"path": str(output), "mode": "w"}),
        )
        report = run(pipeline, burst_pipeline, executor=executor, batch_size=1024)
        elapsed = time.perf_counter() - started
    stats = report.statistics["AccessLogPipeline"]
    with output.open("rb") as written:
        n_windows = sum(1 for _ in written)
    n_bursts = 0
    if anomalies.exists():  # the sink makes its file with the first burst
        with anomalies.open("rb") as written:
            n_bursts = sum(1 for _ in written)
    counters = bursts.TimeWindow.Counters
    lines = [
        f"pumpcore demo ({executor} executor): {stats.event_in:,} log lines in {elapsed:.2f} s "
        f"({stats.event_in / elapsed:,.0f} lines/s)",
        f"  parsed and windowed : {stats.event_absorbed:,}",
        f"  health checks dropped: {stats.event_drop:,}",
        f"  malformed lines      : {stats.warning:,} (counted, not lost silently)",
        f"  late events          : {windows.late:,}",
        f"  minute windows       : {n_windows:,} written to {output}",
        f"  5xx analyzed         : {report.statistics['ErrorBurstPipeline'].event_in:,} "
        f"({counters['events.late']:,} late, {counters['events.early']:,} early)",
        f"  5xx bursts           : {n_bursts:,} written to {anomalies}",
    ]
    print("\n".join(lines), file=out)
    return 0 if not report.errors else 1
