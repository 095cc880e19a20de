"""Benchmark: how often acknowledgements happen under steady load, per executor.

A source that never ends (a new chunk of integer positions on every read) feeds a pipeline to a
sink that counts its flushes; once with an ``async def`` step (events in flight across executor
turns), once without. Each run lasts ``--seconds`` and prints commits/s (acknowledge calls) and
acknowledged positions/s, counting only what was acknowledged *before* the stop (the final
commit at stop is left out: it is the one commit any design makes). Run:
``python bench/commits.py [--seconds 3] [--executors sync,threads,asyncio,trio]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import anyio
import pumpcore_executors
from pumpcore_executors import ExecutorName

from pumpcore import BlockingSink, BlockingSource, Context, Pipeline, Received


class Endless(BlockingSource):
    """A new chunk of positions on every read, forever; records when each acknowledgement came."""

    def __init__(self) -> None:
        super().__init__()
        self.next = 0
        self.acks: list[tuple[float, int]] = []  # (monotonic time, positions acknowledged)
        self.last_read_at = 0.0

    def read(self, max_items: int) -> Sequence[Received]:
        start = self.next
        self.next += max_items
        self.last_read_at = time.monotonic()
        return [Received(i, position=i) for i in range(start, self.next)]

    def acknowledge(self, positions: Sequence[Any]) -> None:
        self.acks.append((time.monotonic(), len(positions)))


class Flushed(BlockingSink):
    """Counts what it gets and its flushes (a real flush: it runs where the executor runs I/O)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = self.flushes = 0

    def process(self, context: Context, event: Any) -> None:
        self.count += 1

    def flush(self) -> None:
        self.flushes += 1


async def step(context: Context, event: int) -> int:
    await anyio.sleep(0)  # a real suspension: the event is in flight across executor turns
    return event


def measure(executor: ExecutorName, with_async: bool, seconds: float) -> tuple[float, float, int]:
    """Commits/s and acknowledged positions/s before the stop, and events processed."""
    source, sink = Endless(), Flushed()
    pipeline = Pipeline("commits")
    steps = [step] if with_async else []
    pipeline.build(source, *steps, sink)
    started = time.monotonic()
    report = pumpcore_executors.run(
        pipeline, executor=executor, stop_after=seconds, handle_signals=False
    )
    stopped = source.last_read_at  # no read starts once the stop began
    during = [n for at, n in source.acks if at < stopped]
    elapsed = stopped - started
    processed = report.statistics["commits"].event_out
    return len(during) / elapsed, sum(during) / elapsed, processed


def main() -> None:
    """Run every executor with and without an async step and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each run")
    parser.add_argument("--executors", default="sync,threads,asyncio,trio")
    args = parser.parse_args()
    print(f"{'executor':<9} {'step':<6} {'commits/s':>10} {'acked/s':>12} {'events':>10}")
    for name in args.executors.split(","):
        executor: ExecutorName = name
        for with_async in (False, True):
            commits, acked, processed = measure(executor, with_async, args.seconds)
            kind = "async" if with_async else "none"
            print(f"{name:<9} {kind:<6} {commits:>10,.1f} {acked:>12,.0f} {processed:>10,}")


if __name__ == "__main__":
    main()
