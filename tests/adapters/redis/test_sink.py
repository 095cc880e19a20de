"""RedisSink against the real server: stream entries and list items in order, bad events
counted, the server gone mid-run and back with nothing lost."""

from __future__ import annotations

import threading
from typing import Any

import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName
from pumpcore_redis import RedisSink

from pumpcore import Failure, Pipeline, TriggerSource
from pumpcore.common import IteratorSource
from pumpcore.trigger import PeriodicTrigger

from ...executors.conftest import run_kwargs
from ...servers import TcpProxy
from .conftest import Keys

pytestmark = pytest.mark.timeout(60)


def test_stream_entries_are_added_in_order(keys: Keys, executor: ExecutorName) -> None:
    events: list[Any] = [{"n": i, "tags": ["a", i]} for i in range(2500)]
    events.insert(100, "not a mapping")  # refused before Redis: counted
    sink = RedisSink(connection=keys.connection(), config={"key": keys("s")})
    p = Pipeline("S", error_policy="soft")
    failures: list[Failure] = []
    p.add_failure_listener(failures.append)
    p.build(IteratorSource(events), sink)
    report = pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))
    assert report.errors == {}
    entries: Any = keys.client.xrange(keys("s"))
    assert [int(fields[b"n"]) for _, fields in entries] == list(range(2500))
    assert entries[3][1][b"tags"] == b'["a",3]'
    assert report.statistics["S"].warning == 1
    assert "non-empty mapping" in str(failures[0].exception)
    assert sink.statistics().written == 2500


def test_list_items_are_pushed_in_order(keys: Keys, executor: ExecutorName) -> None:
    events: list[Any] = [b"raw", "text", 7, {"n": 1}]
    sink = RedisSink(connection=keys.connection(), config={"key": keys("l"), "mode": "list"})
    p = Pipeline("L")
    p.build(IteratorSource(events), sink)
    report = pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))
    assert report.errors == {}
    assert keys.client.lrange(keys("l"), 0, -1) == [b"raw", b"text", b"7", b'{"n":1}']


def test_a_key_of_another_type_raises_from_flush(keys: Keys) -> None:
    keys.client.set(keys("k"), "a string")
    p = Pipeline("Wrong")
    p.build(
        IteratorSource([{"n": 1}]),
        RedisSink(connection=keys.connection(), config={"key": keys("k")}),
    )
    report = pumpcore_executors.run(p, handle_signals=False)
    assert report.errors["Wrong"].startswith("RedisSink: ")
    assert "ResponseError" in report.errors["Wrong"]


class Counting(TriggerSource):
    def __init__(self) -> None:
        super().__init__()
        self.emitted = 0

    def cycle(self, *args: Any) -> None:
        for _ in range(20):
            self.process(self.emitted)
            self.emitted += 1


@pytest.mark.slow
def test_the_server_gone_and_back_loses_nothing(keys: Keys, executor: ExecutorName) -> None:
    with TcpProxy(keys.address) as proxy:
        sink = RedisSink(
            connection=keys.connection(proxy.address, socket_timeout=0.5),
            config={"key": keys("r"), "mode": "list", "flush_timeout": 20},
        )
        source = Counting()
        source.on(PeriodicTrigger(0.02))
        p = Pipeline("Gone")
        p.build(source, sink)

        def outage() -> None:
            done.wait(0.3)
            proxy.cut()
            done.wait(0.5)
            proxy.resume()

        done = threading.Event()
        thread = threading.Thread(target=outage)
        thread.start()
        report = pumpcore_executors.run(
            p, executor=executor, stop_after=1.2, **run_kwargs(executor)
        )
        thread.join()
    assert report.errors == {}
    written = [int(v) for v in keys.client.lrange(keys("r"), 0, -1)]
    assert set(written) == set(range(source.emitted))
    assert sink.statistics().reconnects >= 1
