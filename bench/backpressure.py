"""Backpressure: a fast source of big events and a slow sink must keep memory bounded.

A generator yields ``--count`` events of 10 KB each (default 20,000) into a sink that sleeps 1 ms
per event. Each executor runs in a fresh process; the figure is the growth of the peak resident
set (VmHWM) over the resident set after imports. Target: < 50 MB.

Run: ``python bench/backpressure.py [--count 2000] [--executors sync,threads,asyncio,trio]``
(``--count 2000`` for a quick run: 20,000 events take 20 s per executor by design).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

SIZE = 10 * 1024


def vm(field: str) -> int:
    """A field of /proc/self/status, in kB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def child(executor: str, count: int, source_kind: str) -> None:
    """Run one executor in this process and print: events, seconds, RSS growth in MB."""
    import pumpcore_executors

    from pumpcore import BlockingSource, Pipeline, Received, Sink
    from pumpcore.common import IteratorSource

    class SlowSink(Sink):
        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def process(self, context: dict[str, Any], event: bytes) -> None:
            time.sleep(0.001)
            self.count += 1

    def events() -> Iterator[bytes]:
        for i in range(count):
            yield bytes([i % 256]) * SIZE

    class Reader(BlockingSource):
        def __init__(self) -> None:
            super().__init__()
            self.it = events()

        def read(self, max_items: int) -> list[Received] | None:
            batch = [Received(e) for _, e in zip(range(max_items), self.it, strict=False)]
            return batch or None

    base = vm("VmRSS")
    sink = SlowSink()
    p = Pipeline("P")
    source = IteratorSource(events()) if source_kind == "iterator" else Reader()
    p.build(source, sink)
    started = time.perf_counter()
    pumpcore_executors.run(p, executor=executor, batch_size=64)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    assert sink.count == count, sink.count
    print(f"{sink.count} {elapsed:.1f} {(vm('VmHWM') - base) / 1024:.1f}")


def main() -> None:
    """Run every executor in its own process and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--executors", default="sync,threads,asyncio,trio")
    parser.add_argument("--source", choices=["iterator", "blocking"], default="iterator")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.count, args.source)
        return
    print(f"{args.count:,} events of 10 KB ({args.count * SIZE / 2**20:,.0f} MB in all), "
          f"sink 1 ms/event, source: {args.source}")  # fmt: skip
    for name in args.executors.split(","):
        out = subprocess.run(
            [sys.executable, __file__, "--child", name, "--count", str(args.count),
             "--source", args.source],
            check=True, capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
        print(f"{name:<8} {int(out[0]):>7,} events in {out[1]:>5} s   peak RSS growth {out[2]} MB")


if __name__ == "__main__":
    main()
