"""DatagramSource and DatagramSink with real UDP and Unix datagram sockets, under every executor."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import anyio
import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName
from pumpcore_socket import DatagramSink, DatagramSource, SocketError

from pumpcore import ConfigError, Context, Failure, Pipeline, RejectedInputError
from pumpcore.common import IteratorSource, ListSink

from ...executors.conftest import run_kwargs
from .conftest import host_port, run_with_client, wait_for_addresses

pytestmark = pytest.mark.timeout(30)


def no_empty_datagrams(context: Context, event: Any) -> Any:
    if not event:
        raise ValueError("an empty datagram")
    return event


def test_each_datagram_is_an_event_with_its_sender_and_bad_ones_are_rejected(
    executor: ExecutorName, tmp_path: Path
) -> None:
    path = str(tmp_path / "d.sock")
    source = DatagramSource(
        config={"address": f"127.0.0.1 0; {path}", "encoding": "utf-8", "max_packet_size": 1000}
    )
    sink, dead = ListSink(keep_contexts=True), ListSink()
    pipeline = Pipeline("Udp")  # the hard policy: a server's bad input must not stop it
    pipeline.build(source, no_empty_datagrams, sink)
    pipeline.set_dead_letter(dead)

    def client() -> str:
        udp_address, unix_address = wait_for_addresses(source)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            for datagram in [b"one", "ünï".encode(), b"\xff\xfe", b"x" * 1001, b"", b"two"]:
                udp.sendto(datagram, host_port(udp_address))
            name = udp.getsockname()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as unix:
            unix.sendto(b"over unix", unix_address)
        return f"{name[0]} {name[1]}"

    def done() -> bool:
        return len(sink.Events) == 4 and len(dead.Events) == 3

    report, peer = run_with_client([pipeline], executor, client, done)
    udp_me, _ = source.addresses
    udp = [
        (c, e)
        for c, e in zip(sink.Contexts, sink.Events, strict=True)
        if c["datagram_me"] == udp_me
    ]
    unix = [
        (c, e) for c, e in zip(sink.Contexts, sink.Events, strict=True) if c["datagram_me"] == path
    ]
    assert [e for _, e in udp] == ["one", "ünï", "two"]  # one sender, one socket: in order
    assert {"datagram_type": "AF_INET", "datagram_peer": peer, "datagram_me": udp_me} == udp[0][0]
    assert unix == [
        ({"datagram_type": "AF_UNIX", "datagram_peer": "", "datagram_me": path}, "over unix")
    ]
    stats = source.statistics()
    assert (stats.datagrams, stats.datagrams_truncated, stats.datagrams_undecodable) == (5, 1, 1)
    assert report.errors == {}
    counters = report.statistics["Udp"]
    assert (counters.event_in, counters.event_out, counters.warning) == (5, 4, 1)
    assert (counters.rejected, counters.dead_letter, counters.error) == (2, 3, 0)
    failures: list[Failure] = dead.Events
    assert [(f.component_id, f.event) for f in failures] == [
        ("DatagramSource", b"\xff\xfe"),
        ("DatagramSource", b"x" * 1000),
        ("no_empty_datagrams", ""),
    ]
    assert [type(f.exception) for f in failures] == [
        RejectedInputError,
        RejectedInputError,
        ValueError,
    ]
    assert "not utf-8" in str(failures[0].exception)
    assert "over 1000 bytes" in str(failures[1].exception)
    assert failures[0].context["datagram_peer"] == peer


def test_each_event_is_sent_as_one_datagram(executor: ExecutorName) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(5)
        host, port = receiver.getsockname()
        sink = DatagramSink(config={"address": f"{host} {port}", "max_packet_size": 100})
        pipeline = Pipeline("Out", error_policy="soft")
        pipeline.build(IteratorSource(["a", b"b", {"c": 1}, "x" * 101, [2]]), sink)
        report = pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))
        got = [receiver.recv(65536) for _ in range(4)]
    assert got == [b"a", b"b", b'{"c":1}', b"[2]"]
    assert report.statistics["Out"].warning == 1  # over max_packet_size: a bad event
    stats = sink.statistics()
    assert (stats.datagrams_sent, stats.pending, stats.send_failures) == (4, 0, 0)


def test_a_unix_datagram_sink_raises_while_nobody_listens(
    async_backend: str, tmp_path: Path
) -> None:
    path = str(tmp_path / "d.sock")
    sink = DatagramSink(config={"address": path, "retries": 1, "retry_delay": 0.01})

    async def main() -> None:
        sink.process({}, "first")
        with pytest.raises(SocketError, match="1 datagrams not sent"):
            await sink.aflush()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
            receiver.bind(path)
            sink.process({}, "second")
            await sink.aflush()
            await sink.aclose()
            assert [receiver.recv(100), receiver.recv(100)] == [b"first", b"second"]

    anyio.run(main, backend=async_backend)


def test_a_datagram_address_in_use_fails_the_run_at_start() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        pipeline = Pipeline("Busy")
        pipeline.build(DatagramSource(config={"address": f"127.0.0.1 {port}"}), ListSink())
        with pytest.raises(SocketError, match=f"cannot bind '127.0.0.1 {port}'"):
            pumpcore_executors.run(pipeline, executor="sync", handle_signals=False)


def test_datagram_configuration_mistakes_are_caught_at_build_time() -> None:
    with pytest.raises(
        ConfigError, match="'max_packet_size' must be a number from 1 to 1048576, got 0"
    ):
        DatagramSource(config={"max_packet_size": 0})
    with pytest.raises(ConfigError, match="takes one address"):
        DatagramSink(config={"address": "a 1\nb 2"})
