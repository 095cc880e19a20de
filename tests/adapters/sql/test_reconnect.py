"""The server goes away mid-run (a proxy in front of it is cut) and comes back: the sink writes
its buffer again on a new connection and loses nothing; the source's cycles fail while it is
gone and succeed once it is back."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName

from pumpcore import Pipeline, Sink, TriggerSource
from pumpcore.trigger import PeriodicTrigger

from ...executors.conftest import run_kwargs
from ...servers import TcpProxy
from ._backends import Database

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]


class Counting(TriggerSource):
    """Emits 20 numbered events per firing."""

    def __init__(self) -> None:
        super().__init__()
        self.emitted = 0

    def cycle(self, *args: Any) -> None:
        for _ in range(20):
            self.process({"n": self.emitted})
            self.emitted += 1


def outage(
    proxy: TcpProxy, at: float, length: float, on_resume: Callable[[], object] = lambda: None
) -> threading.Thread:
    def run() -> None:
        stop.wait(at)
        proxy.cut()
        stop.wait(length)
        proxy.resume()
        on_resume()

    stop = threading.Event()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_the_sink_reconnects_and_loses_nothing(db: Database, executor: ExecutorName) -> None:
    table = db.table(f"n {db.backend.int_type}")
    with TcpProxy(db.address) as proxy:
        sink = db.backend.sink(
            connection=db.connection(proxy.address),
            config={"table": table, "columns": "n", "flush_timeout": 20},
        )
        source = Counting()
        source.on(PeriodicTrigger(0.02))
        p = Pipeline("Outage")
        p.build(source, sink)
        resumed: list[int] = []
        cut = outage(proxy, 0.2, 0.4, lambda: resumed.append(source.emitted))
        report = pumpcore_executors.run(
            p, executor=executor, stop_after=1.0, **run_kwargs(executor)
        )
        cut.join()
    assert report.errors == {}
    written = Counter(r[0] for r in db.execute(f"SELECT n FROM {table}"))
    assert set(written) == set(range(source.emitted))  # nothing lost
    assert source.emitted > resumed[0]  # and what came after the server was back
    assert sink.statistics().reconnects >= 1  # type: ignore[attr-defined]


class ListSink(Sink):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[Any] = []

    def process(self, context: Any, event: Any) -> None:
        self.events.append(event)


def test_the_source_fails_while_the_server_is_gone_and_reads_again_after(
    db: Database, executor: ExecutorName
) -> None:
    table = db.table(f"n {db.backend.int_type}")
    db.insert(table, "n", [(i,) for i in range(50)])
    with TcpProxy(db.address) as proxy:
        source = db.backend.source(
            connection=db.connection(proxy.address, connect_timeout=2),
            config={"query": f"SELECT n FROM {table} ORDER BY n"},
        ).on(PeriodicTrigger(0.05))
        sink = ListSink()
        p = Pipeline("Gone")
        p.build(source, sink)
        cut = outage(proxy, 0.15, 0.3)
        report = pumpcore_executors.run(
            p, executor=executor, stop_after=0.75, **run_kwargs(executor)
        )
        cut.join()
    assert report.errors == {}
    assert report.statistics["Gone"].source_error >= 2
    cycles, rest = divmod(len(sink.events), 50)
    assert rest == 0  # whole cycles ...
    assert cycles >= 4  # ... before and after the outage
    assert sink.events[-50:] == [{"n": i} for i in range(50)]
