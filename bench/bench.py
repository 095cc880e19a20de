"""Benchmark: the standard workload as a plain loop and through pumpcore, in one process.

Prints events/s for each and the ratio pipeline/plain. Run: ``python bench/bench.py [-n N]``.
Each measurement is the best of ``--repeat`` runs so that a passing hiccup does not decide it.

Wall-clock ratios swing on a shared machine; instruction counts do not. ``--only NAME`` runs one
of them (``plain`` or an executor) once, for ``valgrind --tool=callgrind``; the difference of two
sizes, divided by the difference in events, is the cost per event without start-up::

    for n in 10000 30000; do PYTHONHASHSEED=0 valgrind --tool=callgrind \
        --callgrind-out-file=/tmp/cg.sync.$n python bench/bench.py --only sync -n $n; done
    grep summary /tmp/cg.sync.*   # (30000's - 10000's) / 20000, likewise for --only plain
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pumpcore_executors
from workload import CountSink, enrich, keep, make_lines, parse, plain_loop

from pumpcore import Pipeline
from pumpcore.common import IteratorSource


def best_of(repeat: int, fn: Callable[[], int]) -> tuple[float, int]:
    """The shortest wall time of ``repeat`` runs, and the count the last run produced."""
    best = float("inf")
    count = 0
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        count = fn()
        best = min(best, time.perf_counter() - t0)
    return best, count


def run_pipeline(executor: str, lines: list[bytes]) -> int:
    """The standard workload through pumpcore on ``executor``; what reached the sink."""
    sink = CountSink()
    pipeline = Pipeline("bench")
    pipeline.build(IteratorSource(lines), parse, enrich, keep, sink)
    report = pumpcore_executors.run(
        pipeline,
        executor=executor,  # type: ignore[arg-type]
        batch_size=1024,
    )
    assert report.statistics["bench"].event_in == len(lines)
    return sink.count


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=1_000_000, help="events per run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--executors", default="sync", help="comma-separated executors to measure")
    parser.add_argument("--only", help="run only plain or one executor, once, and print nothing")
    args = parser.parse_args()
    lines = make_lines(args.n)
    if args.only:
        if args.only == "plain":
            plain_loop(lines, CountSink())
        else:
            run_pipeline(args.only, lines)
        return

    def plain() -> int:
        sink = CountSink()
        plain_loop(lines, sink)
        return sink.count

    base_time, base_count = best_of(args.repeat, plain)
    print(f"plain loop        {args.n / base_time:>12,.0f} events/s   (sink got {base_count})")
    for name in args.executors.split(","):

        def piped(name: str = name) -> int:
            return run_pipeline(name, lines)

        t, count = best_of(args.repeat, piped)
        if count != base_count:
            raise SystemExit(f"{name}: sink got {count} events, the plain loop {base_count}")
        ratio = base_time / t
        print(f"pumpcore {name:<8} {args.n / t:>12,.0f} events/s   ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
