"""The demo pump on the bundled data: every line accounted for, windows written as JSON lines."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
from pumpcore_executors._cli import main
from pumpcore_executors._demo import run_demo


def test_demo_accounts_for_every_line(tmp_path: Path) -> None:
    out = io.StringIO()
    output = tmp_path / "windows.jsonl"
    assert run_demo(output, out=out) == 0
    windows = [orjson.loads(line) for line in output.read_text().splitlines()]
    summary = out.getvalue()
    assert "200,000 log lines" in summary
    numbers = {
        label.strip(): int(value.split()[0].replace(",", ""))
        for label, value in (line.split(":", 1) for line in summary.splitlines()[1:])
    }
    windowed = sum(w["requests"] for w in windows)
    assert windowed == numbers["parsed and windowed"]
    total = windowed + numbers["health checks dropped"] + numbers["malformed lines"]
    assert total == 200_000
    assert numbers["malformed lines"] > 0  # the sample has truncated lines on purpose
    assert numbers["minute windows"] == len(windows)
    starts = [w["window_start"] for w in windows]
    assert starts == sorted(starts)
    assert len(set(starts)) == len(starts)


def test_cli_demo_writes_where_asked(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "w.jsonl"
    assert main(["demo", "--output", str(target)]) == 0
    assert target.exists()
    assert target.stat().st_size > 0
