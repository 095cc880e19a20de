"""The Redis adapter against ``pumpcore.testing.conformance``'s source and sink checks, on every
executor: acknowledged only once written, resumed where acknowledged, closed in order, an entry
that does not decode rejected and counted."""

from __future__ import annotations

from typing import Any

import pytest
from pumpcore_executors import ExecutorName
from pumpcore_redis import RedisSink, RedisStreamSource

from pumpcore.testing import conformance

from .conftest import Keys

pytestmark = pytest.mark.timeout(60)


def test_the_stream_source_conforms(keys: Keys, executor: ExecutorName) -> None:
    written = 0

    def make_input(n: int) -> list[Any]:
        nonlocal written
        events = []
        for i in range(written, written + n):
            keys.client.xadd(keys("in"), {"n": str(i)})
            events.append({"n": str(i)})
        written += n
        return events

    def make_bad_input() -> None:
        keys.client.xadd(keys("in"), {"n": b"\xff\xfe not UTF-8"})

    def make_source() -> RedisStreamSource:
        return RedisStreamSource(
            connection=keys.connection(),
            config={"stream": keys("in"), "group": "g", "block": 0.01, "watch": False},
        )

    result = conformance.check_source(
        make_source, make_input, executor, make_bad_input=make_bad_input
    )
    assert 0 < result.acknowledged <= 100
    assert result.bad_input_failures == 1
    assert keys.client.xpending(keys("in"), "g")["pending"] == 0


@pytest.mark.parametrize("mode", ["stream", "list"])
def test_the_sink_conforms(keys: Keys, executor: ExecutorName, mode: str) -> None:
    def read_durable() -> list[Any]:
        if mode == "stream":
            entries: Any = keys.client.xrange(keys("out"))
            return [{"seq": int(fields[b"seq"])} for _, fields in entries]
        items: Any = keys.client.lrange(keys("out"), 0, -1)
        return [int(v) for v in items]

    def make_sink() -> RedisSink:
        return RedisSink(connection=keys.connection(), config={"key": keys("out"), "mode": mode})

    make_event = (lambda i: {"seq": i}) if mode == "stream" else (lambda i: i)
    result = conformance.check_sink(make_sink, read_durable, executor, make_event=make_event)
    assert result.flushes >= 2
    assert len(read_durable()) == 450
