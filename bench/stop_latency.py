"""Stop latency: how long a stop takes with 10,000 events in flight (target < 2 s).

A parent pipeline fans an endless stream out fifty-fold and routes it into a child whose
processing is slower, so the queue fills up. Once it holds ``--in-flight`` events, SIGTERM is sent;
the figure is the time from the signal to ``run()`` returning, having drained every queued event
into the sink (checked: nothing routed is lost).

Run: ``python bench/stop_latency.py [--executors sync,threads,asyncio,trio]``
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import threading
import time
from typing import Any

import pumpcore_executors

from pumpcore import Generator, Pipeline, Sink
from pumpcore.common import InternalSource, IteratorSource, RouterSink


class Route(RouterSink):
    def process(self, context: dict[str, Any], event: int) -> None:
        self.route(context, event, "Child.InternalSource")


class FanOut(Generator):
    """Fifty events out of each one: the parent outruns the child and the queue fills up."""

    def generate(self, context: dict[str, Any], event: int) -> range:
        return range(event * 50, event * 50 + 50)


class CountSink(Sink):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def process(self, context: dict[str, Any], event: int) -> None:
        self.count += 1


def work(context: dict[str, Any], event: int) -> int:
    """About 20 µs of CPU per event: slower than the parent."""
    x = event
    for _ in range(200):
        x = (x * 31 + 7) % 1_000_003
    return x


def measure(executor: str, in_flight: int) -> tuple[int, float]:
    parent, child = Pipeline("Parent"), Pipeline("Child")
    queue = InternalSource(config={"queue_max_size": 12_000, "backpressure_threshold": 10_000})
    sink = CountSink()
    parent.build(IteratorSource(itertools.count()), FanOut(), Route())
    child.build(queue, work, sink)
    seen = [0, 0.0]

    def signal_when_full() -> None:
        while len(queue) < in_flight:
            time.sleep(0.001)
        seen[0], seen[1] = len(queue), time.perf_counter()
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=signal_when_full, daemon=True).start()
    report = pumpcore_executors.run(parent, child, executor=executor)  # type: ignore[arg-type]
    latency = time.perf_counter() - seen[1]
    routed = report.statistics["Parent"].event_out
    assert sink.count == routed, (sink.count, routed)
    return int(seen[0]), latency


def main() -> None:
    """Measure every executor and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executors", default="sync,threads,asyncio,trio")
    parser.add_argument("--in-flight", type=int, default=10_000)
    args = parser.parse_args()
    for name in args.executors.split(","):
        queued, latency = measure(name, args.in_flight)
        print(f"{name:<8} {queued:>6,} events queued at SIGTERM   stop took {latency:.2f} s")


if __name__ == "__main__":
    main()
