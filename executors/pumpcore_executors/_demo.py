"""The demo pump: web-access log lines → parsed → enriched → per-minute windows → JSON lines.

Everything here is ordinary user code: the processors are plain functions and classes a user
would write, the pipeline is built the BSPump way, and an executor runs it.
"""

from __future__ import annotations

import calendar
import gzip
import re
import time
from collections import Counter
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import orjson

from pumpcore import Context, Generator, Pipeline, Sink

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
    """

    def __init__(self) -> None:
        super().__init__()
        self._start: int | None = None
        self._events: list[dict[str, Any]] = []
        self.late = 0

    def generate(self, context: Context, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Add the event to its window; return the windows it closed."""
        minute = event["time"] - event["time"] % 60
        out = []
        if self._start is None:
            self._start = minute
        elif minute > self._start:
            out.append(self._summary())
            self._start, self._events = minute, []
        elif minute < self._start:
            self.late += 1
        self._events.append(event)
        return out

    def on_stop(self, now: float) -> list[tuple[Context, Any]]:
        """Emit the window still open."""
        if not self._events:
            return []
        summary = self._summary()
        self._events = []
        return [({}, summary)]

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


class JsonLinesSink(Sink):
    """Writes each event as one JSON line to an open text stream (flushed on stop)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self.written = 0

    def process(self, context: Context, event: Any) -> None:
        """Write one line."""
        self.stream.write(orjson.dumps(event).decode() + "\n")
        self.written += 1

    def flush(self) -> None:
        """Push the lines to the operating system."""
        self.stream.flush()


def sample_lines() -> Iterator[str]:
    """The bundled sample: 200,000 synthetic access-log lines (a few truncated on purpose)."""
    data = resources.files("pumpcore_executors") / "demo_data" / "access.log.gz"
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        for line in lines:
            yield line.rstrip("\n")


def run_demo(output: Path, executor: ExecutorName = "sync", out: TextIO | None = None) -> int:
    """Run the demo pump, write windows to ``output`` and print a summary to ``out``."""
    from pumpcore.common import IteratorSource

    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with output.open("w", encoding="utf-8") as stream:
        sink = JsonLinesSink(stream)
        windows = MinuteWindows()
        pipeline = Pipeline("AccessLogPipeline", error_policy="soft")
        pipeline.build(
            IteratorSource(sample_lines()), parse_line, enrich, drop_health_checks, windows, sink
        )
        report = run(pipeline, executor=executor, batch_size=1024)
    elapsed = time.perf_counter() - started
    stats = report.statistics["AccessLogPipeline"]
    lines = [
        f"pumpcore demo ({executor} executor): {stats.event_in:,} log lines in {elapsed:.2f} s "
        f"({stats.event_in / elapsed:,.0f} lines/s)",
        f"  parsed and windowed : {stats.event_absorbed:,}",
        f"  health checks dropped: {stats.event_drop:,}",
        f"  malformed lines      : {stats.warning:,} (counted, not lost silently)",
        f"  late events          : {windows.late:,}",
        f"  minute windows       : {sink.written:,} written to {output}",
    ]
    print("\n".join(lines), file=out)
    return 0 if not report.errors else 1
