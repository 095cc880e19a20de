"""Fuzz: the TCP line server (``StreamServerSource``) under garbage, over-long lines, slow
clients, a connection flood and a stalled pipeline, on every executor."""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

import pytest
from pumpcore_executors import ExecutorName
from pumpcore_socket import StreamServerSource

from pumpcore import Pipeline
from pumpcore.common import ListSink
from pumpcore.testing import conformance

from ._harness import (
    LIMITS,
    MAX_BUFFERED_BYTES,
    MAX_CONNECTIONS,
    RSS_BOUND,
    Stall,
    closed_by_server,
    flood,
    garbage,
    push_until_blocked,
    run_attack,
)

pytestmark = pytest.mark.timeout(60)

MAX_LINE = 1024


def until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("executor", conformance.executor_params())
def test_the_line_server_stays_up_bounded_and_counts_every_bad_input(
    executor: ExecutorName, caplog: pytest.LogCaptureFixture
) -> None:
    stall = Stall()

    class Server(StreamServerSource):
        async def read(self, max_items: int) -> Any:
            return await stall.gate(super().read, max_items)

    config = {"address": "127.0.0.1 0", "max_line_length": MAX_LINE, "queue_max_size": 10**5}
    source = Server(config={**config, **LIMITS})
    sink = ListSink()
    pipeline = Pipeline("Fuzz")
    pipeline.build(source, sink)
    bad = garbage(seed=8, n=50, size=40)
    valid = [f"ok {i}".encode() for i in range(200)]

    def attack() -> dict[str, Any]:
        host, port = source.addresses[0].rsplit(" ", 1)
        address = (host, int(port))
        seen: dict[str, Any] = {}
        # Garbage: undecodable lines, one over max_line_length, one cut short by the close.
        with socket.create_connection(address) as sock:
            sock.sendall(b"\n".join(bad) + b"\n" + b"x" * (5 * MAX_LINE) + b"\ncut")
        # Slowloris: one byte each, then nothing; each is closed after idle_timeout.
        slow = flood(host, int(port), 4)
        for sock in slow:
            sock.sendall(b"s")
        seen["slow_closed"] = [closed_by_server(sock) for sock in slow]
        # A connection flood past max_connections: the extra ones are closed at once.
        many = flood(host, int(port), MAX_CONNECTIONS + 8)
        until(lambda: source.statistics().connections_refused >= 8)
        for sock in slow + many:
            sock.close()
        # A stalled pipeline: a client pushes lines as fast as the server takes them.
        stall.on.set()
        with socket.create_connection(address) as sock:
            seen["pushed"] = push_until_blocked(sock, b"y" * 1000 + b"\n", 64 * 2**20)
            seen["stalled"] = source.statistics()
        stall.on.clear()
        # A valid client still gets through, whole and in order.
        with socket.create_connection(address) as sock:
            sock.sendall(b"".join(line + b"\n" for line in valid))
        until(
            lambda: [e for e in sink.Events if e.startswith("ok ")] == [v.decode() for v in valid]
        )
        return seen

    with caplog.at_level(logging.WARNING):
        report, seen, grown = run_attack(pipeline, executor, lambda: bool(source.addresses), attack)
    stats = source.statistics()
    assert seen["slow_closed"] == [True] * 4
    # Backpressure reached the client: it could push its kernel buffers and the budget, no more.
    assert seen["pushed"] < 32 * 2**20
    assert seen["stalled"].buffered_bytes >= MAX_BUFFERED_BYTES // 2
    assert seen["stalled"].buffered_bytes_max <= MAX_BUFFERED_BYTES + MAX_LINE
    assert stats.buffered_bytes_max <= MAX_BUFFERED_BYTES + MAX_LINE
    assert grown < RSS_BOUND
    # Every bad input is counted here and reached the pipeline as a rejected input.
    assert (stats.lines_undecodable, stats.lines_too_long) == (50, 1)
    assert stats.partial_lines == 1 + 4  # the cut line, and each slow client's byte
    assert stats.timeouts >= 4
    assert stats.connections_refused >= 8
    rejected = stats.lines_undecodable + stats.lines_too_long + stats.partial_lines
    assert report.statistics["Fuzz"].rejected == rejected
    # The log tells some of them and sums up the rest: a flood of bad input is no flood of lines.
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("pumpcore")]
    assert len(lines) <= 12
    assert any(f"{rejected - 10} more failures of Fuzz.Server" in line for line in lines)
    assert report.errors == {}
