"""HTTPClientWebSocketSink's delivery rules against a real WebSocketSource: it raises (and keeps
its messages) when it cannot deliver, reconnects when the server restarts, fails at once on a
refusal retrying cannot change."""

from __future__ import annotations

import socket
from typing import Any

import anyio
import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName
from pumpcore_http import HTTPClientWebSocketSink, WebSocketClientError, WebSocketSource

from pumpcore import ConfigError, Pipeline
from pumpcore.common import IteratorSource

from ...executors.conftest import run_kwargs
from ._live import async_backends, every_executor, read_all, serving

pytestmark = pytest.mark.timeout(30)

FAST = {"fail_chilldown": 0.01, "timeout": 2.0}


def free_port() -> int:
    """A port where nothing listens: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@every_executor
def test_an_unreachable_server_fails_the_flush_loudly_and_keeps_the_messages(
    executor: ExecutorName,
) -> None:
    url = f"ws://127.0.0.1:{free_port()}/bspump/ws"
    sink = HTTPClientWebSocketSink(config={"url": url, "retries": 1, **FAST})
    pipeline = Pipeline("Client")
    pipeline.build(IteratorSource(["a", "b", "c"]), sink)

    report = pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))

    assert "WebSocketClientError" in report.errors["Client"]
    assert "not delivered after 2 attempt(s)" in report.errors["Client"]
    assert sink.pending == 3  # nothing dropped: a later flush would send them
    stats = sink.statistics()
    assert stats.messages == 0
    assert stats.failures >= 1
    assert stats.failed_attempts == 2 * stats.failures


@async_backends
def test_a_restarted_server_is_reconnected_and_sent_the_whole_flush(backend: str) -> None:
    port = free_port()
    url = f"ws://127.0.0.1:{port}/bspump/ws"
    sink = HTTPClientWebSocketSink(config={"url": url, **FAST})
    received: list[Any] = []

    async def main() -> None:
        await sink.aopen()
        first = WebSocketSource(config={"address": f"127.0.0.1 {port}"})
        async with serving(first):
            sink.process({}, "one")
            await sink.aflush()
            received.extend(await read_all(first, 1))
        # The server went away (its connections closed with it) and comes back.
        second = WebSocketSource(config={"address": f"127.0.0.1 {port}"})
        async with serving(second):
            sink.process({}, "two")
            sink.process({}, b"three")
            await sink.aflush()
            received.extend(await read_all(second, 2))
        await sink.aclose()

    anyio.run(main, backend=backend)
    assert received == ["one", "two", b"three"]
    stats = sink.statistics()
    assert (stats.messages, stats.flushes, stats.connects) == (3, 2, 2)
    assert stats.failed_attempts == 1  # the old connection's missing pong
    assert stats.failures == 0


@async_backends
def test_refusals_that_retrying_cannot_change_fail_at_once(backend: str) -> None:
    source = WebSocketSource(config={"address": "127.0.0.1 0", "max_message_size": 10})
    errors: list[WebSocketClientError] = []

    async def main() -> None:
        async with serving(source) as (host, port):
            for url, event in (
                (f"ws://{host}:{port}/elsewhere", "fits"),  # handshake answered 404
                (f"http://{host}:{port}/bspump/ws", "far too long a message"),  # closed 1009
            ):
                sink = HTTPClientWebSocketSink(config={"url": url, "retries": 5, **FAST})
                sink.process({}, event)
                with pytest.raises(WebSocketClientError) as caught:
                    await sink.aflush()
                errors.append(caught.value)
                assert sink.pending == 1
                await sink.aclose()

    anyio.run(main, backend=backend)
    assert [(e.status, e.close_code, e.attempts) for e in errors] == [
        (404, None, 1),
        (None, 1009, 1),
    ]
    assert source.statistics().too_large == 1


@async_backends
def test_without_confirm_a_flush_returns_once_written(backend: str) -> None:
    source = WebSocketSource(config={"address": "127.0.0.1 0"})
    received: list[Any] = []

    async def main() -> None:
        async with serving(source):
            sink = HTTPClientWebSocketSink(url=lambda: source.url, config={"confirm": False})
            for i in range(50):
                sink.process({}, {"n": i})
            await sink.aflush()
            received.extend(await read_all(source, 50))
            await sink.aclose()

    anyio.run(main, backend=backend)
    assert received == [f'{{"n":{i}}}' for i in range(50)]


def test_an_event_that_cannot_be_encoded_fails_alone_in_process() -> None:
    sink = HTTPClientWebSocketSink(config={"url": "ws://127.0.0.1:1/"})
    with pytest.raises(TypeError):
        sink.process({}, object())
    assert sink.pending == 0


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/bspump/ws", "ws:///no-host", "ws://127.0.0.1:99999/"]
)
def test_a_url_that_is_not_a_websocket_endpoint_is_refused_at_build_time(url: str) -> None:
    with pytest.raises(ConfigError, match="url"):
        HTTPClientWebSocketSink(config={"url": url})


def test_a_sink_without_url_is_refused_when_it_joins_a_pipeline() -> None:
    pipeline = Pipeline("Client")
    with pytest.raises(ConfigError, match="url"):
        pipeline.build(IteratorSource([]), HTTPClientWebSocketSink())
