"""StreamServerSource and TCPSource against real clients: the seed's TCP pipelines, several
listening addresses (TCP and Unix), bad input, backpressure and TLS, under every executor."""

from __future__ import annotations

import math
import os
import shutil
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pumpcore_executors
import pytest
import trustme
from pumpcore_executors import ExecutorName
from pumpcore_socket import SocketError, StreamServerSource, StreamServerStatistics, TCPSource

from pumpcore import ConfigError, Context, Failure, Pipeline, Processor, RejectedInputError
from pumpcore.common import ListSink, StdJsonToDictParser

from ...executors.conftest import run_kwargs
from .conftest import connect, host_port, run_with_client, send, until, wait_for_addresses

pytestmark = pytest.mark.timeout(30)


class ShakespeareanEnricher(Processor):
    """The seed's processor, as the tutorial writes it."""

    def process(self, context: Context, event: Any) -> Any:
        if isinstance(event, bytes):
            event = event.decode("utf-8").replace("\r", "").replace("\n", "")
        return f"To {event}, or not to {event}?"


def tcp_pipeline(source: StreamServerSource) -> tuple[Pipeline, ListSink]:
    """The seed's TCPPipeline: source → ShakespeareanEnricher → a sink (PPrintSink there)."""
    sink = ListSink(keep_contexts=True)
    pipeline = Pipeline("TCPPipeline")
    pipeline.build(source, ShakespeareanEnricher(), sink)
    return pipeline, sink


ANSWERS = ["To be, or not to be?", "To die, or not to die?", "To sleep, or not to sleep?"]


def test_the_seed_tcp_pipeline_answers_a_python_client(executor: ExecutorName) -> None:
    source = TCPSource(config={"host": "127.0.0.1", "port": 0})  # the seed: 0.0.0.0 8888
    pipeline, sink = tcp_pipeline(source)

    def client() -> str:
        (address,) = wait_for_addresses(source)
        return send(address, b"be\n", b"die\r\n", b"sle", b"ep\n", pause=0.01)

    report, peer = run_with_client([pipeline], executor, client, lambda: len(sink.Events) == 3)
    assert sink.Events == ANSWERS
    assert report.errors == {}
    stats = report.statistics["TCPPipeline"]
    assert (stats.event_in, stats.event_out, stats.warning) == (3, 3, 0)
    (me,) = source.addresses
    assert host_port(me)[0] == "127.0.0.1"
    assert host_port(me)[1] > 0
    assert (
        sink.Contexts
        == [
            {
                "stream_type": "AF_INET",
                "stream_dir": "in",
                "stream_peer": peer,
                "stream_me": me,
                "stream_id": 1,
            }
        ]
        * 3
    )
    assert sink.Contexts[0] is not sink.Contexts[1]  # a fresh context per event
    server = source.statistics()
    assert (server.connections, server.lines, server.bytes_received) == (1, 3, 14)


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed")
def test_the_seed_socat_command_talks_to_the_tcp_pipeline(executor: ExecutorName) -> None:
    source = TCPSource(config={"host": "127.0.0.1", "port": 0})
    pipeline, sink = tcp_pipeline(source)

    def client() -> None:
        (address,) = wait_for_addresses(source)
        host, port = host_port(address)
        # The pipeline's docstring: socat STDIO TCP:127.0.0.1:8888
        subprocess.run(
            ["socat", "-t", "0.1", "STDIO", f"TCP:{host}:{port}"],
            input=b"be\ndie\nsleep\n",
            check=True,
            timeout=10,
        )

    report, _ = run_with_client([pipeline], executor, client, lambda: len(sink.Events) == 3)
    assert sink.Events == ANSWERS
    assert report.errors == {}


def test_several_addresses_tcp_and_unix_keep_each_connection_in_order(
    executor: ExecutorName, tmp_path: Path
) -> None:
    path = str(tmp_path / "s.sock")
    # BSPump's multi-line address value, and ';' between entries.
    source = StreamServerSource(
        config={"address": f"127.0.0.1 0; 127.0.0.1 0\n{path}", "encoding": ""}
    )
    sink = ListSink(keep_contexts=True)
    pipeline = Pipeline("Echo")  # the seed's EchoPipeline, with a sink to look at
    pipeline.build(source, sink)
    n = 200

    def client() -> list[str]:
        addresses = wait_for_addresses(source)
        peers = []
        for k, address in enumerate(addresses):
            lines = b"".join(b"c%d-%d\r\n" % (k, i) for i in range(n))
            peers.append(send(address, lines[:777], lines[777:], pause=0.01))
        return peers

    report, peers = run_with_client([pipeline], executor, client, lambda: len(sink.Events) == 3 * n)
    assert report.errors == {}
    first, second, unix = source.addresses
    assert first != second
    assert unix == path
    by_connection: dict[int, list[Any]] = {}
    for context, event in zip(sink.Contexts, sink.Events, strict=True):
        by_connection.setdefault(context["stream_id"], []).append((context, event))
    assert sorted(by_connection) == [1, 2, 3]
    for k, (me, peer, family) in enumerate(
        [(first, peers[0], "AF_INET"), (second, peers[1], "AF_INET"), (unix, "", "AF_UNIX")]
    ):
        got = by_connection[k + 1]
        assert [event for _, event in got] == [b"c%d-%d" % (k, i) for i in range(n)]
        assert {(c["stream_me"], c["stream_peer"], c["stream_type"]) for c, _ in got} == {
            (me, peer, family)
        }
    assert not os.path.exists(path)  # the socket file goes with the source


def test_bad_input_is_counted_and_the_server_keeps_serving(executor: ExecutorName) -> None:
    source = StreamServerSource(config={"address": "127.0.0.1 0", "max_line_length": 64})
    sink, dead = ListSink(keep_contexts=True), ListSink()
    pipeline = Pipeline("Json")  # the hard policy: a server's bad input must not stop it
    pipeline.build(source, StdJsonToDictParser(), sink)
    pipeline.set_dead_letter(dead)

    def client() -> None:
        (address,) = wait_for_addresses(source)
        send(
            address,
            b'{"n": 1}\n' + b"x" * 100,  # an over-long line, cut across sends...
            b"x" * 100 + b"\n",  # ...dropped whole
            b'{"n": 2}\n{not json\n{"n": 3}\n',  # the parser fails on the middle line
            b"y" * 1_000_000 + b"\n",  # far over the limit: skipped, never held
            b'\xff\xfe"undecodable"\n{"n": 4}\n',
            b'{"n": 5, "cut sh',  # the client disconnects mid-line
            pause=0.01,
        )
        until(lambda: source.statistics().partial_lines == 1)
        send(address, b'{"n": 10}\n')  # another client is still served

    def done() -> bool:
        return len(sink.Events) == 5 and len(dead.Events) == 5

    report, _ = run_with_client([pipeline], executor, client, done)
    assert sink.Events == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}, {"n": 10}]
    # The connection stayed up through every bad line: the first four came on connection 1.
    assert [c["stream_id"] for c in sink.Contexts] == [1, 1, 1, 1, 2]
    stats = report.statistics["Json"]
    assert (stats.event_in, stats.event_out, stats.warning, stats.error) == (6, 5, 1, 0)
    assert (stats.rejected, stats.dead_letter) == (4, 5)
    assert report.errors == {}
    server = source.statistics()
    assert (server.lines_too_long, server.lines_undecodable, server.partial_lines) == (2, 1, 1)
    assert (server.connections, server.lines) == (2, 6)
    # Every bad line is dead-lettered with its connection's context; the parser's failure too.
    failures: list[Failure] = dead.Events
    assert [(f.component_id, f.event, f.context.get("stream_id")) for f in failures] == [
        ("StreamServerSource", None, 1),
        ("StdJsonToDictParser", "{not json", 1),
        ("StreamServerSource", None, 1),
        ("StreamServerSource", b'\xff\xfe"undecodable"', 1),
        ("StreamServerSource", b'{"n": 5, "cut sh', 1),
    ]
    reasons = [str(f.exception) for f in failures if isinstance(f.exception, RejectedInputError)]
    assert reasons[0] == reasons[1] == "a line over 64 bytes"
    assert reasons[2].startswith("not utf-8: ")
    assert "cut short" in reasons[3]


class Stall(Processor):
    """Throttles its pipeline for good after ``after`` events: a downstream that stopped.

    Once stalled it asks for a tick every 50 ms, as a downstream polling to resume would; that
    wakes the executor, so the run sees the test's end at once (nothing else wakes a run whose
    only source is throttled).
    """

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after
        self.seen = 0
        self.last_tick = -math.inf

    def process(self, context: Context, event: Any) -> Any:
        self.seen += 1
        if self.seen == self.after:
            assert self.Pipeline is not None
            self.Pipeline.throttle(self, True)
        return event

    def next_awake(self) -> float | None:
        return self.last_tick + 0.05 if self.seen >= self.after else None

    def on_tick(self, now: float) -> tuple[()]:
        self.last_tick = now
        return ()


def test_a_throttled_pipeline_pushes_back_on_the_client(executor: ExecutorName) -> None:
    queue, read_size, taken = 8, 4, 5
    source = StreamServerSource(
        config={"address": "127.0.0.1 0", "queue_max_size": queue, "read_size": read_size}
    )
    sink = ListSink()
    pipeline = Pipeline("Throttled")
    pipeline.build(source, Stall(after=taken), sink)
    line = b"z" * 99 + b"\n"
    chunk = line * 655  # 65,500 bytes
    attempted = 64 * 1024 * 1024

    def client() -> tuple[int, StreamServerStatistics]:
        (address,) = wait_for_addresses(source)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        sock.connect(host_port(address))
        sock.settimeout(0.5)
        sent = 0
        with sock:
            while sent < attempted:
                try:
                    sent += sock.send(chunk[sent % len(chunk) :])
                except TimeoutError:
                    break  # TCP pushed back: the server stopped reading
            return sent, source.statistics()

    report, (sent, blocked) = run_with_client([pipeline], executor, client, lambda: True)
    assert sink.Events == [line[:-1].decode()] * taken
    assert sent < attempted
    # The server holds a bounded amount: a full queue, the source's read buffer, one chunk.
    assert blocked.buffered == blocked.buffered_max == queue
    assert blocked.lines <= taken + 2 * read_size + queue
    assert blocked.bytes_received <= 2 * 65536
    assert source.statistics().buffered_max == queue
    assert report.statistics["Throttled"].event_in == taken


def test_tls_lines_arrive_and_a_failed_handshake_is_counted(
    executor: ExecutorName, tmp_path: Path
) -> None:
    ca = trustme.CA()
    issued = ca.issue_cert("localhost", "127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    for i, blob in enumerate(issued.cert_chain_pems):
        blob.write_to_path(str(cert), append=i > 0)
    issued.private_key_pem.write_to_path(str(key))
    source = StreamServerSource(
        config={"address": "127.0.0.1 0", "cert": str(cert), "key": str(key)}
    )
    sink = ListSink(keep_contexts=True)
    pipeline = Pipeline("Tls")
    pipeline.build(source, sink)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    def client() -> None:
        (address,) = wait_for_addresses(source)
        send(address, b"plain text is not TLS\n")
        until(lambda: source.statistics().handshake_failures == 1)
        with (
            connect(address) as raw,
            client_context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(b"secret one\nsecret two\r\n")
            tls.sendall(b"secret three\n")

    report, _ = run_with_client([pipeline], executor, client, lambda: len(sink.Events) == 3)
    assert sink.Events == ["secret one", "secret two", "secret three"]
    assert report.errors == {}
    server = source.statistics()
    assert (server.handshake_failures, server.connections, server.lines) == (1, 1, 3)
    assert sink.Contexts[0]["stream_id"] == 1  # numbered after the handshake


def unwrapped(exc: BaseException) -> BaseException:
    """The one exception inside (nested) single-member exception groups.

    The async executors raise what ``open`` raised inside an ExceptionGroup (it passes through
    their task group); the sync and threads executors raise it bare.
    """
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def test_an_address_in_use_fails_the_run_at_start(executor: ExecutorName) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        source = StreamServerSource(config={"address": f"127.0.0.1 0\n127.0.0.1 {port}"})
        pipeline = Pipeline("Busy")
        pipeline.build(source, ListSink())
        with pytest.raises((SocketError, BaseExceptionGroup)) as info:
            pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))
    error = unwrapped(info.value)
    assert isinstance(error, SocketError)
    assert isinstance(error, OSError)
    assert f"Busy.StreamServerSource: cannot listen on '127.0.0.1 {port}'" in str(error)
    assert source.addresses == ()  # the first address, bound, was closed again


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"address": ""}, "'address' is empty"),
        ({"address": "127.0.0.1 99999"}, "not a number in 0-65535"),
        ({"address": "localhost:http"}, None),  # not host:port, so a (relative) path: fine
        ({"max_line_length": 0}, "'max_line_length' must be a number from 1 to 67108864, got 0"),
        ({"encoding": "no-such-codec"}, "'encoding' must be '' or a text encoding"),
        ({"cert": "server.pem"}, "'cert' and 'key' go together"),
        ({"queue_max_size": 0}, "'queue_max_size' must be a number from 1 to 1048576, got 0"),
        ({"adress": "typo"}, "unknown config key 'adress'"),
    ],
)
def test_configuration_mistakes_are_caught_at_build_time(
    config: dict[str, Any], message: str | None
) -> None:
    if message is None:
        StreamServerSource(config=config)
        return
    with pytest.raises(ConfigError, match=message):
        StreamServerSource(config=config)


def test_tcp_source_takes_host_and_port_or_an_address() -> None:
    assert TCPSource(config={"host": "0.0.0.0", "port": 8888}).addresses == ()
    assert TCPSource(config={"port": 9000})._address_text() == "127.0.0.1 9000"
    assert TCPSource(config={"address": "/run/p.sock"})._address_text() == "/run/p.sock"
    with pytest.raises(ConfigError, match="either 'address' or 'host'/'port'"):
        TCPSource(config={"address": "127.0.0.1 1", "port": 2})


def test_a_missing_certificate_fails_the_run_at_start(tmp_path: Path) -> None:
    source = StreamServerSource(
        config={
            "address": "127.0.0.1 0",
            "cert": str(tmp_path / "missing.pem"),
            "key": str(tmp_path / "missing.key"),
        }
    )
    pipeline = Pipeline("NoCert")
    pipeline.build(source, ListSink())
    with pytest.raises(ConfigError, match="cannot load TLS 'cert'") as info:
        pumpcore_executors.run(pipeline, executor="sync", handle_signals=False)
    assert "missing.pem" in str(info.value)
    assert "missing.key" not in str(info.value)  # 'key' is a secret key: its value is not shown
