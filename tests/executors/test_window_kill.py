"""Windows under SIGKILL: a real pump (a file source, an event-time window analyzer, a durable
JSON-lines sink) in a subprocess, killed at random moments and restarted each time, writes
exactly the windows an uninterrupted run computes — none lost, none partial, none twice.

Recovery needs no snapshot: an open window holds its events' positions, so the source replays
them; the restarted pump reads the last window in its output and ``resume_after``s it, so the
replayed events of windows already written are late instead of making them again."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from pumpcore.analyzer import TimeWindowAnalyzer
from pumpcore.testing import run_chain

pytestmark = pytest.mark.timeout(120)

KILLS = 6
LINES = 30_000

ANALYZER = textwrap.dedent(
    """
    class CountByKey(TimeWindowAnalyzer):
        def evaluate(self, context, event):
            key, ts = event
            matrix = self.TimeWindow
            row = matrix.get_row_index(key)
            if row is None:
                row = matrix.add_row(key)
            column = matrix.get_column(ts)
            if column is not None:
                matrix.Array[row][column] += 1

    def make_analyzer():
        return CountByKey(resolution=60, columns=3, config={"allowed_lateness": 30})
    """
)

PUMP = (
    textwrap.dedent(
        """
    import json, sys, time
    import pumpcore_executors
    from pumpcore import Pipeline
    from pumpcore.analyzer import TimeWindowAnalyzer
    from pumpcore_files import FileJSONLinesSink, FileLineSource
    """
    )
    + ANALYZER
    + textwrap.dedent(
        """
    inbox, out = sys.argv[1], sys.argv[2]
    count = [0]

    def parse(context, line):  # spreads a run over seconds, so that kills land mid-stream
        count[0] += 1
        if count[0] % 3 == 0:  # >= 10 s of sleep in all: three kills of <= 2 s land mid-run
            time.sleep(0.001)
        key, ts = line.split()
        return key, float(ts)

    def windows_only(context, event):
        return event if isinstance(event, dict) else None

    analyzer = make_analyzer()
    try:
        data = open(out, "rb").read()
    except FileNotFoundError:
        data = b""
    complete = data[: data.rfind(b"\\n") + 1].splitlines()  # a torn last line is cut on open
    written = [json.loads(line)["window_start"] for line in complete]
    if written:
        analyzer.resume_after(max(written))
    p = Pipeline("Windows")
    p.build(
        FileLineSource(
            config={
                "path": inbox + "/*.log",
                "mode": "r",
                "watch": False,
                "offset_commit_interval": 0,
            }
        ),
        parse,
        analyzer,
        windows_only,
        FileJSONLinesSink(config={"path": out}),
    )
    report = pumpcore_executors.run(p, executor="sync", handle_signals=False)
    sys.exit(1 if report.errors else 0)
    """
    )
)


def make_input(rng: random.Random) -> list[tuple[str, float]]:
    """Events 0.1 s apart, each delayed by less than the allowed lateness (30 s)."""
    events = [(rng.choice("abcde"), round(i * 0.1, 1)) for i in range(LINES)]
    delays = [rng.randrange(30) for _ in events]
    order = sorted(range(LINES), key=lambda i: (events[i][1] + delays[i], i))
    return [events[i] for i in order]


def expected_windows(events: list[tuple[str, float]]) -> list[Any]:
    scope: dict[str, Any] = {"TimeWindowAnalyzer": TimeWindowAnalyzer}
    exec(ANALYZER, scope)
    out = run_chain([scope["make_analyzer"]()], events)
    return [json.loads(json.dumps(e)) for e in out if isinstance(e, dict)]


def test_killed_window_pump_writes_the_uninterrupted_runs_windows(tmp_path: Path) -> None:
    rng = random.Random("window-kill")
    events = make_input(rng)
    inbox, out = tmp_path / "inbox", tmp_path / "windows.jsonl"
    inbox.mkdir()
    (inbox / "in.log").write_text("".join(f"{k} {t}\n" for k, t in events))
    kills = 0
    for _ in range(KILLS):
        process = subprocess.Popen(
            [sys.executable, "-c", PUMP, str(inbox), str(out)], stderr=subprocess.PIPE
        )
        time.sleep(rng.uniform(0.5, 2.0))  # start-up (~0.4 s), then some windows
        if process.poll() is None:
            process.kill()
            kills += 1
        process.communicate(timeout=20)
    final = subprocess.run(
        [sys.executable, "-c", PUMP, str(inbox), str(out)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert final.returncode == 0, final.stderr.decode()[-2000:]
    assert kills >= 3  # the kills landed mid-run
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert written == expected_windows(events)
