"""RedisStreamSource against the real server: entries read in a consumer group, acknowledged
only after the sink flushed, pending entries read again after a failed run, entries left by a
dead consumer taken over, the server gone and back."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import hypothesis
import pumpcore_executors
import pytest
from hypothesis import strategies as st
from pumpcore_executors import ExecutorName
from pumpcore_redis import RedisStreamSource

from pumpcore import Pipeline, Sink

from ...executors.conftest import run_kwargs
from ...servers import TcpProxy
from .conftest import Keys

pytestmark = pytest.mark.timeout(60)


class ListSink(Sink):
    def __init__(self, fail_at: int | None = None, expect: int | None = None) -> None:
        super().__init__()
        self.events: list[Any] = []
        self.fail_at = fail_at
        self.expect = expect  # stop the run once this many distinct events came
        self.handle = pumpcore_executors.RunHandle()

    def process(self, context: Any, event: Any) -> None:
        if len(self.events) == self.fail_at:
            self.handle.stop()
            raise RuntimeError("the sink breaks")
        self.events.append(int(event["n"]))
        if self.expect is not None and len(set(self.events)) >= self.expect:
            self.handle.stop()


def run(keys: Keys, sink: ListSink, executor: ExecutorName = "sync", **config: Any) -> Any:
    """Run the source into ``sink`` until it has what it expects (or a few seconds pass)."""
    source = RedisStreamSource(
        connection=config.pop("connection", None) or keys.connection(),
        config={"stream": keys("in"), "group": "g", "block": 0.05, **config},
    )
    p = Pipeline("R")
    p.build(source, sink)
    seconds = 5.0 if sink.expect is not None or sink.fail_at is not None else 0.6
    return pumpcore_executors.run(
        p, executor=executor, stop_after=seconds, handle=sink.handle, **run_kwargs(executor)
    )


def pending(keys: Keys) -> int:
    return int(keys.client.xpending(keys("in"), "g")["pending"])


def test_entries_are_read_in_order_and_acknowledged(keys: Keys, executor: ExecutorName) -> None:
    for i in range(3000):
        keys.client.xadd(keys("in"), {"n": i})
    sink = ListSink(expect=3000)
    report = run(keys, sink, executor)
    assert report.errors == {}
    assert sink.events == list(range(3000))
    assert pending(keys) == 0


def test_a_failed_run_acknowledges_nothing_after_the_failure_and_the_next_reads_it_again(
    keys: Keys, executor: ExecutorName
) -> None:
    for i in range(500):
        keys.client.xadd(keys("in"), {"n": i})
    first = ListSink(fail_at=200)  # the hard policy stops the pipeline there
    report = run(keys, first, executor)
    assert "the sink breaks" in report.errors["R"]
    assert pending(keys) >= 300
    group = keys.client.xinfo_groups(keys("in"))[0]
    acknowledged = int(group["entries-read"]) - int(group["pending"])
    second = ListSink(expect=500 - acknowledged)
    report = run(keys, second, executor)
    assert report.errors == {}
    assert set(first.events) | set(second.events) == set(range(500))
    assert second.events == sorted(second.events)
    assert pending(keys) == 0


def test_entries_left_by_a_dead_consumer_are_taken_over(keys: Keys, executor: ExecutorName) -> None:
    keys.client.xgroup_create(keys("in"), "g", id="0", mkstream=True)
    for i in range(50):
        keys.client.xadd(keys("in"), {"n": i})
    keys.client.xreadgroup("g", "dead", {keys("in"): ">"}, count=30)  # read, never acknowledged
    sink = ListSink(expect=50)
    report = run(keys, sink, executor, claim_idle=0.1, consumer="alive")
    assert report.errors == {}
    assert sorted(sink.events) == list(range(50))
    assert pending(keys) == 0


@pytest.mark.slow
def test_the_server_gone_and_back(keys: Keys, executor: ExecutorName) -> None:
    with TcpProxy(keys.address) as proxy:
        sink = ListSink(expect=200)

        def feed_and_cut() -> None:
            for i in range(100):
                keys.client.xadd(keys("in"), {"n": i})
            done.wait(0.15)
            proxy.cut()
            for i in range(100, 200):
                keys.client.xadd(keys("in"), {"n": i})
            done.wait(0.35)
            proxy.resume()

        done = threading.Event()
        thread = threading.Thread(target=feed_and_cut)
        thread.start()
        report = run(
            keys, sink, executor, connection=keys.connection(proxy.address, socket_timeout=0.5)
        )
        thread.join()
    assert report.errors == {}
    assert report.statistics["R"].source_error >= 1
    assert sorted(set(sink.events)) == list(range(200))
    assert pending(keys) == 0


@hypothesis.settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@hypothesis.given(
    entries=st.integers(1, 400),
    failures=st.lists(st.integers(0, 400), max_size=3),
    read_size=st.sampled_from([7, 64, 1024]),
)
def test_failed_runs_never_lose_an_entry(
    keys: Keys, executor: ExecutorName, entries: int, failures: list[int], read_size: int
) -> None:
    stream = keys(f"h{uuid.uuid4().hex[:8]}")
    for i in range(entries):
        keys.client.xadd(stream, {"n": i})
    seen: set[int] = set()
    for fail_at in [*failures, None]:
        group = keys.client.xinfo_groups(stream)
        acked = int(group[0]["entries-read"]) - int(group[0]["pending"]) if group else 0
        if acked == entries:
            break  # all done (a failure past the end never came)
        sink = ListSink(fail_at=fail_at, expect=entries - acked)  # stops at whichever comes
        run(keys, sink, executor, stream=stream, read_size=read_size)
        assert sink.events == sorted(sink.events)  # each run delivers in stream order
        seen.update(sink.events)
    assert seen == set(range(entries))
    assert keys.client.xpending(stream, "g")["pending"] == 0
