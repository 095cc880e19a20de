"""Benchmark: windows. Two questions, each answered in one process.

1. ``ratio``: a 1-minute tumbling count by key over the standard workload (``workload.py``;
   event time ``id / 100`` s, key ``value``: 100 keys) through pumpcore's ``TimeWindowAnalyzer``
   against a hand-written loop with a dict of counters. Target: ratio >= 0.7.
2. ``backends``: the matrix alone, 1M events into 10k keys x 60 one-minute columns, on the
   pure-Python cells and on numpy: which is the default (``pumpcore/analyzer/_cells.py``).

Wall-clock ratios swing on a shared machine; decide with instruction counts per event, the
difference of two sizes divided by the difference in events (start-up cancels out)::

    for side in plain sync; do for n in 20000 60000; do PYTHONHASHSEED=0 valgrind \
        --tool=callgrind --callgrind-out-file=/tmp/cg.win.$side.$n \
        python bench/windows.py ratio --only $side -n $n; done; done
    for side in python numpy; do for n in 100000 300000; do PYTHONHASHSEED=0 valgrind \
        --tool=callgrind --callgrind-out-file=/tmp/cg.cells.$side.$n \
        python bench/windows.py backends --only $side -n $n; done; done
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pumpcore_executors
from workload import CountSink, enrich, keep, make_lines, parse

from bench import best_of
from pumpcore import Pipeline
from pumpcore.analyzer import TimeWindowAnalyzer, TimeWindowMatrix
from pumpcore.common import IteratorSource


class TumblingCount(TimeWindowAnalyzer):
    """Counts events per ``value`` per minute of event time ``id / 100``."""

    def evaluate(self, context: dict[str, Any], event: dict[str, Any]) -> None:
        """Add one to the event's key in its minute."""
        matrix = self.TimeWindow
        column = matrix.get_column(event["id"] / 100)
        if column is None:
            return
        key = event["value"]
        row = matrix.Index.get(key)
        if row is None:
            row = matrix.add_row(key)
        matrix.Array[row][column] += 1


class WindowSink(CountSink):
    """Counts events, keeps the windows."""

    def __init__(self) -> None:
        super().__init__()
        self.windows: list[dict[Any, Any]] = []

    def process(self, context: dict[str, Any], event: Any) -> None:
        """Count the event, or keep the window's counts."""
        if "window_start" in event:
            self.windows.append(event["values"])
        else:
            self.count += 1


def plain_windows(lines: list[bytes], sink: WindowSink) -> None:
    """The hand-written loop: the same functions, a dict of counters per minute."""
    current: int | None = None
    counts: dict[Any, int] = {}
    for line in lines:
        context: dict[str, Any] = {}
        event = parse(context, line)
        event = enrich(context, event)
        event = keep(context, event)
        if event is None:
            continue
        minute = int(event["id"] / 100 // 60)
        if minute != current:
            if counts:
                sink.windows.append(counts)
            current, counts = minute, {}
        key = event["value"]
        counts[key] = counts.get(key, 0) + 1
        sink.process(context, event)
    if counts:
        sink.windows.append(counts)


def piped_windows(executor: str, lines: list[bytes]) -> WindowSink:
    """The same through pumpcore on ``executor``."""
    sink = WindowSink()
    pipeline = Pipeline("windows")
    pipeline.build(
        IteratorSource(lines), parse, enrich, keep, TumblingCount(resolution=60, columns=2), sink
    )
    pumpcore_executors.run(pipeline, executor=executor, batch_size=1024)  # type: ignore[arg-type]
    return sink


def matrix_load(backend: str, n: int, keys: int = 10_000, columns: int = 60) -> float:
    """``n`` events into ``keys`` rows over ``2 * columns`` minutes of event time; the sum."""
    rng = random.Random(0)
    matrix = TimeWindowMatrix(resolution=60, columns=columns, backend=backend)  # type: ignore[arg-type]
    span = 2 * columns * 60
    for i in range(n):
        key = rng.randrange(keys)
        column = matrix.get_column(i * span / n)
        if column is None:
            continue
        row = matrix.Index.get(key)
        if row is None:
            row = matrix.add_row(key)
        matrix.Array[row][column] += 1
    return float(sum(sum(row) for row in matrix.Array))


def main() -> None:
    """Run one of the two benchmarks and print its table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=["ratio", "backends"])
    parser.add_argument("-n", type=int, default=1_000_000, help="events per run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--executor", default="sync")
    parser.add_argument("--only", help="run one side once and print nothing (callgrind)")
    args = parser.parse_args()
    if args.what == "backends":
        if args.only:
            matrix_load(args.only, args.n)
            return
        for backend in ("python", "numpy"):

            def load(backend: str = backend) -> int:
                return int(matrix_load(backend, args.n))

            t, _ = best_of(args.repeat, load)
            print(f"matrix {backend:<7} {args.n / t:>12,.0f} events/s (10k keys x 60 columns)")
        return
    lines = make_lines(args.n)
    if args.only:
        if args.only == "plain":
            plain_windows(lines, WindowSink())
        else:
            piped_windows(args.only, lines)
        return
    reference = WindowSink()
    plain_windows(lines, reference)
    if piped_windows(args.executor, lines).windows != reference.windows:
        raise SystemExit("the pipeline's windows differ from the plain loop's")

    def plain() -> int:
        sink = WindowSink()
        plain_windows(lines, sink)
        return sink.count

    base, _ = best_of(args.repeat, plain)
    t, _ = best_of(args.repeat, lambda: piped_windows(args.executor, lines).count)
    print(f"plain loop (dict of counters) {args.n / base:>12,.0f} events/s")
    print(f"pumpcore {args.executor:<20} {args.n / t:>12,.0f} events/s   ratio {base / t:.2f}")


if __name__ == "__main__":
    main()
