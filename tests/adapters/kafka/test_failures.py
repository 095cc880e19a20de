"""What must not be lost: a sink whose deliveries fail makes the run fail (never only a log
line) and acknowledges nothing; buffered events of revoked partitions are dropped exactly, the
rest kept in read order (``IOSource.discard``, the rebalance path)."""

from __future__ import annotations

from typing import Any

import pumpcore_executors
from hypothesis import given
from hypothesis import strategies as st
from pumpcore_executors import ExecutorName
from pumpcore_kafka import KafkaConnection, KafkaSink

from pumpcore import Pipeline
from pumpcore.common import ListSink
from pumpcore.lowlevel import Batch, BlockingSource, Received, Rejected
from tests.executors.conftest import run_kwargs
from tests.servers import free_port


def test_undelivered_messages_fail_the_flush(executor: ExecutorName) -> None:
    # Nothing listens there: every delivery times out after message.timeout.ms.
    connection = KafkaConnection(config={"bootstrap_servers": f"127.0.0.1:{free_port()}"})
    acked: list[Any] = []

    class Numbers(BlockingSource):
        def __init__(self) -> None:
            super().__init__()
            self.left = 5

        def read(self, max_items: int) -> Any:
            if not self.left:
                return None
            self.left -= 1
            return [Received({"n": self.left}, position=self.left)]

        def acknowledge(self, positions: Any) -> None:
            acked.extend(positions)

    sink = KafkaSink(
        connection=connection,
        config={"topic": "t", "producer": {"message.timeout.ms": 300}, "flush_timeout": 5},
    )
    p = Pipeline("Out")
    p.build(Numbers(), sink)
    report = pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))
    assert "KafkaSink 'KafkaSink'" in report.errors["Out"], report.errors
    assert "not delivered" in report.errors["Out"], report.errors
    assert acked == []
    assert sink.statistics().failed >= 1


class Buffered(BlockingSource):
    """A source fed directly (as the executor feeds it), pumped by the test."""


positions = st.tuples(st.sampled_from("abc"), st.integers(0, 99))
items = st.lists(
    st.one_of(
        st.lists(positions, min_size=1, max_size=6).map(lambda ps: ("batch", ps)),
        positions.map(lambda p: ("reject", p)),
    ),
    max_size=8,
)


@given(items=items, revoked=st.sets(st.sampled_from("abc")), taken=st.integers(0, 10))
def test_discard_drops_exactly_the_revoked_and_keeps_read_order(
    items: list[tuple[str, Any]], revoked: set[str], taken: int
) -> None:
    source, sink = Buffered(), ListSink()
    p = Pipeline("P", error_policy="soft")
    p.build(source, sink)
    fed: list[tuple[str, Any]] = []
    for kind, value in items:
        if kind == "batch":
            source.feed(Batch(list(value), list(value), None), 0.0)
            fed.extend(("event", v) for v in value)
        else:
            source.feed([Rejected(value, "bad", value)], 0.0)
            fed.append(("reject", value))
    taken = min(taken, len(fed))
    assert source.pump(taken) == taken  # some were taken before the revoke
    dropped = source.discard(lambda position: position[0] in revoked)
    rest = [(k, v) for k, v in fed[taken:] if v[0] not in revoked]
    assert dropped == len(fed) - taken - len(rest)
    assert source.buffered() == len(rest)
    assert source.pump(100) == len(rest)
    expected = fed[:taken] + rest
    assert sink.Events == [v for k, v in expected if k == "event"]  # read order kept
    rejected = p.statistics().as_dict()["event.rejected"]
    assert rejected == sum(k == "reject" for k, _ in expected)
    assert source.buffered() == 0
