"""Fuzz: the UDP server (``DatagramSource``) under garbage, oversized datagrams and a flood into a
stalled pipeline, on every executor."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from pumpcore_executors import ExecutorName
from pumpcore_socket import DatagramSource

from pumpcore import Pipeline
from pumpcore.common import ListSink
from pumpcore.testing import conformance

from ._harness import MAX_BUFFERED_BYTES, RSS_BOUND, Stall, garbage, run_attack

pytestmark = pytest.mark.timeout(60)

MAX_PACKET = 2048


@pytest.mark.parametrize("executor", conformance.executor_params())
def test_the_datagram_server_stays_up_bounded_and_counts_every_bad_input(
    executor: ExecutorName,
) -> None:
    stall = Stall()

    class Server(DatagramSource):
        async def read(self, max_items: int) -> Any:
            return await stall.gate(super().read, max_items)

    source = Server(
        config={
            "address": "127.0.0.1 0",
            "encoding": "utf-8",
            "max_packet_size": MAX_PACKET,
            "queue_max_size": 10**5,
            "max_buffered_bytes": MAX_BUFFERED_BYTES,
        }
    )
    sink = ListSink()
    pipeline = Pipeline("Fuzz")
    pipeline.build(source, sink)
    bad = garbage(seed=8, n=40, size=100)
    valid = [f"ok {i}" for i in range(100)]

    def attack() -> Any:
        host, port = source.addresses[0].rsplit(" ", 1)
        address = (host, int(port))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for blob in bad:
                sock.sendto(blob, address)
            for _ in range(3):
                sock.sendto(b"z" * (MAX_PACKET + 500), address)
            deadline = time.monotonic() + 10
            while (
                source.statistics().datagrams_undecodable + source.statistics().datagrams_truncated
                < 43
            ):
                assert time.monotonic() < deadline
                time.sleep(0.01)
            # A flood into a stalled pipeline: the server holds its budget, the kernel drops
            # the rest.
            stall.on.set()
            for _ in range(2000):
                sock.sendto(b"f" * 1500, address)
            time.sleep(0.3)
            stalled = source.statistics()
            stall.on.clear()
            deadline = time.monotonic() + 10
            while source.statistics().buffered:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            # Valid datagrams still get through.
            for text in valid:
                sock.sendto(text.encode(), address)
                time.sleep(0.0005)
            while [e for e in sink.Events if e.startswith("ok ")] != valid:
                assert time.monotonic() < deadline + 10
                time.sleep(0.01)
        return stalled

    report, stalled, grown = run_attack(pipeline, executor, lambda: bool(source.addresses), attack)
    stats = source.statistics()
    assert MAX_BUFFERED_BYTES // 2 <= stalled.buffered_bytes <= MAX_BUFFERED_BYTES
    assert stats.buffered_bytes_max <= MAX_BUFFERED_BYTES + MAX_PACKET
    assert grown < RSS_BOUND
    assert (stats.datagrams_undecodable, stats.datagrams_truncated) == (40, 3)
    assert report.statistics["Fuzz"].rejected == 43
    assert report.errors == {}
