"""StreamClientSink against a plain socket server: lines as sent, a relay flushed while the run
goes on, reconnection after the server closed or reset, and a flush that raises rather than
dropping what it could not send."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import anyio.to_thread
import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName
from pumpcore_socket import SocketError, StreamClientSink, StreamServerSource

from pumpcore import ConfigError, Pipeline
from pumpcore.common import IteratorSource

from ...executors.conftest import run_kwargs
from .conftest import LineServer, run_with_client, send, until, wait_for_addresses

pytestmark = pytest.mark.timeout(30)


def test_each_event_reaches_the_server_as_one_line(
    executor: ExecutorName, line_server: LineServer
) -> None:
    events = ["plain", b"raw bytes", {"k": [1, 2]}, 42, "ends with a newline\n", "ünïcode", [3]]
    sink = StreamClientSink(config={"address": line_server.address})
    pipeline = Pipeline("Out", error_policy="soft")
    pipeline.build(IteratorSource(events), sink)
    report = pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))
    until(lambda: len(line_server.lines()) == 6)
    assert line_server.received == [
        b'plain\nraw bytes\n{"k":[1,2]}\nends with a newline\n\xc3\xbcn\xc3\xafcode\n[3]\n'
    ]
    stats = report.statistics["Out"]
    assert (stats.event_in, stats.event_out, stats.warning) == (7, 6, 1)  # 42: a TypeError
    sent = sink.statistics()
    assert (sent.lines_sent, sent.pending, sent.connects, sent.send_failures) == (6, 0, 1, 0)


def test_a_relay_pipeline_forwards_lines_while_it_runs(
    executor: ExecutorName, tmp_path: Path
) -> None:
    destination = LineServer(str(tmp_path / "out.sock"))
    try:
        source = StreamServerSource(config={"address": "127.0.0.1 0"})
        sink = StreamClientSink(config={"address": destination.address})
        pipeline = Pipeline("Relay")
        pipeline.build(source, lambda context, event: event.upper(), sink)
        n = 1000

        def client() -> None:
            (address,) = wait_for_addresses(source)
            lines = b"".join(b"line %d\n" % i for i in range(n))
            send(address, lines[:5000], lines[5000:], pause=0.02)

        # The run ends once the destination has every line: the sink was flushed at commit
        # points while the run went on, not only when it stopped.
        report, _ = run_with_client(
            [pipeline], executor, client, lambda: len(destination.lines()) == n
        )
        assert destination.lines() == [b"LINE %d" % i for i in range(n)]
        assert report.errors == {}
        assert sink.statistics().connects == 1
    finally:
        destination.close()


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_the_sink_reconnects_when_the_server_went_away(async_backend: str, reset: bool) -> None:
    server = LineServer(close_after=3, reset=reset)
    sink = StreamClientSink(config={"address": server.address, "retry_delay": 0.01})

    async def main() -> None:
        await sink.aopen()
        for i in range(3):
            sink.process({}, f"a{i}")
        await sink.aflush()
        await anyio.to_thread.run_sync(server.first_closed.wait, 5.0)
        await anyio.sleep(0.05)  # the close reaches the sink's socket
        for i in range(3):
            sink.process({}, f"b{i}")
        await sink.aflush()  # sees the closed connection first, reconnects, writes
        await sink.aclose()

    try:
        anyio.run(main, backend=async_backend)
        until(lambda: len(server.lines()) == 6)
        assert server.received == [b"a0\na1\na2\n", b"b0\nb1\nb2\n"]
        stats = sink.statistics()
        assert (stats.connects, stats.lines_sent, stats.pending, stats.send_failures) == (
            2,
            6,
            0,
            0,
        )
    finally:
        server.close()


def test_a_flush_raises_when_nothing_listens_and_keeps_the_lines(
    async_backend: str, tmp_path: Path
) -> None:
    path = str(tmp_path / "later.sock")
    sink = StreamClientSink(config={"address": path, "retries": 2, "retry_delay": 0.01})

    async def main() -> None:
        await sink.aopen()  # nothing listens yet: only logged
        for i in range(3):
            sink.process({}, f"line {i}")
        started = time.monotonic()
        with pytest.raises(SocketError, match=r"3 lines not sent to .* after 3 attempts"):
            await sink.aflush()
        assert time.monotonic() - started >= 0.01 + 0.02  # backed off between attempts
        stats = sink.statistics()
        assert (stats.pending, stats.send_failures, stats.connects) == (3, 3, 0)
        server = LineServer(path)  # the server comes up: the next flush sends everything
        try:
            await sink.aflush()
            await sink.aclose()
            await anyio.to_thread.run_sync(until, lambda: len(server.lines()) == 3)
            assert server.received == [b"line 0\nline 1\nline 2\n"]
        finally:
            server.close()

    anyio.run(main, backend=async_backend)
    assert sink.statistics().pending == 0


def test_a_failed_flush_is_reported_never_silently_dropped(
    executor: ExecutorName, tmp_path: Path
) -> None:
    sink = StreamClientSink(
        config={"address": str(tmp_path / "nobody.sock"), "retries": 1, "retry_delay": 0.01}
    )
    pipeline = Pipeline("Lost")
    pipeline.build(IteratorSource(["x", "y"]), sink)
    report = pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))
    assert "StreamClientSink: SocketError" in report.errors["Lost"]
    assert "2 lines not sent" in report.errors["Lost"]
    # Every failed flush is counted (an idle flush point and the final one may both fail).
    assert report.statistics["Lost"].source_error >= 1
    assert sink.statistics().pending == 2


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"address": "127.0.0.1 1; 127.0.0.1 2"}, "takes one address"),
        ({"address": "* 8888"}, "needs a host to send to"),
        ({"retries": -1}, "'retries' must be a number from 0 to 1000000, got -1"),
        ({"retry_delay": 0}, "'retry_delay' must be a finite number > 0, got 0.0"),
        ({"encoding": "nope"}, "'encoding' must be '' or a text encoding .*, got 'nope'"),
    ],
)
def test_sink_configuration_mistakes_are_caught_at_build_time(
    config: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        StreamClientSink(config=config)
