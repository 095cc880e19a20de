"""Fuzz: the WebSocket server (``WebSocketSource``) under garbage handshakes and frames,
oversized messages, slow and idle clients, a connection flood and a stalled pipeline, on every
executor."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from pumpcore_executors import ExecutorName
from pumpcore_http import WebSocketSource
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

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

MAX_MESSAGE = 64 * 1024


def connect(address: tuple[str, int]) -> tuple[socket.socket, WSConnection]:
    """A blocking WebSocket client past its handshake."""
    sock = socket.create_connection(address, timeout=5)
    ws = WSConnection(ConnectionType.CLIENT)
    sock.sendall(ws.send(Request(host="localhost", target="/bspump/ws")))
    while True:
        ws.receive_data(sock.recv(65536) or None)
        for event in ws.events():
            assert isinstance(event, AcceptConnection), event
            return sock, ws


def until(condition: Any) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("executor", conformance.executor_params())
def test_the_websocket_server_stays_up_bounded_and_counts_every_bad_input(
    executor: ExecutorName,
) -> None:
    stall = Stall()

    class Server(WebSocketSource):
        async def read(self, max_items: int) -> Any:
            return await stall.gate(super().read, max_items)

    config = {"address": "127.0.0.1 0", "max_message_size": MAX_MESSAGE, "handshake_timeout": 0.4}
    source = Server(config={**config, **LIMITS})
    sink = ListSink()
    pipeline = Pipeline("Fuzz")
    pipeline.build(source, sink)

    def attack() -> dict[str, Any]:
        assert source.address is not None
        host, port = address = source.address
        seen: dict[str, Any] = {}
        # Garbage handshakes: answered 400 and closed.
        for blob in garbage(seed=8, n=10, size=100):
            with socket.create_connection(address) as sock:
                sock.sendall(blob.replace(b"\r", b"-") + b"\r\n\r\n")
                assert closed_by_server(sock)
        # Garbage frames after a good handshake (unmasked, reserved bits): closed with 1002.
        for blob in garbage(seed=9, n=5, size=64):
            sock, _ = connect(address)
            with sock:
                sock.sendall(b"\xf1\x05" + blob)
                assert closed_by_server(sock)
        # An oversized message: closed with 1009.
        sock, ws = connect(address)
        with sock:
            sock.sendall(ws.send(TextMessage(data="x" * (MAX_MESSAGE + 1))))
            assert closed_by_server(sock)
        # Slowloris handshakes, and a client idle after its handshake.
        slow = flood(host, port, 4)
        for sock in slow:
            sock.sendall(b"GET /bspump/ws HTTP/1.1\r\n")
        idle, _ = connect(address)
        seen["slow_closed"] = [closed_by_server(sock) for sock in [*slow, idle]]
        # A connection flood past max_connections: the extra ones are closed at once.
        many = flood(host, port, MAX_CONNECTIONS + 8)
        until(lambda: source.statistics().connections_refused >= 8)
        for sock in [*slow, idle, *many]:
            sock.close()
        # A stalled pipeline: a client pushes messages until the server stops reading it.
        stall.on.set()
        sock, ws = connect(address)
        with sock:
            seen["pushed"] = push_until_blocked(
                sock, ws.send(TextMessage(data="p" * 30000)), 64 * 2**20
            )
            seen["stalled"] = source.statistics()
        stall.on.clear()
        # A valid client still gets through.
        sock, ws = connect(address)
        with sock:
            for i in range(20):
                sock.sendall(ws.send(TextMessage(data=f"ok {i}")))
            until(
                lambda: (
                    [e for e in sink.Events if e.startswith("ok ")]
                    == [f"ok {i}" for i in range(20)]
                )
            )
        return seen

    report, seen, grown = run_attack(pipeline, executor, lambda: source.address is not None, attack)
    stats = source.statistics()
    assert seen["slow_closed"] == [True] * 5
    assert seen["pushed"] < 32 * 2**20
    assert MAX_BUFFERED_BYTES // 2 <= seen["stalled"].buffered_bytes <= MAX_BUFFERED_BYTES
    assert stats.buffered_bytes_max <= MAX_BUFFERED_BYTES
    assert grown < RSS_BOUND
    # Every bad input is counted.
    assert stats.rejected == 10
    assert stats.protocol_errors == 5
    assert stats.too_large == 1
    assert stats.timeouts >= 4 + 1  # and the flood's connections that never shook hands
    assert stats.connections_refused >= 8
    assert report.statistics["Fuzz"].rejected == 5 + 1
    assert report.errors == {}
