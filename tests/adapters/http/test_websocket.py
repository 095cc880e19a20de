"""WebSocketSource and HTTPClientWebSocketSink: the seed's WebSocket tutorial end to end under
every executor, then the server's protocol duties (handshake refusals, ping/pong, the closing
handshake, fragments, oversized messages) against a hand-driven wsproto client."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName
from pumpcore_http import HTTPClientWebSocketSink, WebSocketSource
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    Request,
    TextMessage,
)

from pumpcore import ConfigError, Context, Failure, Pipeline, Received, RejectedInputError
from pumpcore.common import IteratorSource, ListSink
from pumpcore.lowlevel import Rejected

from ...executors.conftest import run_kwargs
from ._live import (
    Client,
    async_backends,
    every_executor,
    read_all,
    run_with_client,
    serving,
    wait_for_address,
)

pytestmark = pytest.mark.timeout(30)


@every_executor
def test_the_websocket_tutorial_server_and_client_pipelines_run_together(
    executor: ExecutorName,
) -> None:
    # The seed's server pipeline: WebSocketSource -> PPrintSink (a ListSink here, to check).
    server_source = WebSocketSource(config={"address": "127.0.0.1 0"})
    received = ListSink(keep_contexts=True)
    server = Pipeline("Server")
    server.build(server_source, received)

    # Its client pipeline: a source -> HTTPClientWebSocketSink on 'http://127.0.0.1:8080/bspump/ws';
    # the port is the one the server got, known once it listens (hence a function).
    def url() -> str | None:
        address = server_source.address
        return None if address is None else f"http://127.0.0.1:{address[1]}/bspump/ws"

    # More than one commit's worth (commit_every is 1000): several flushes, each confirmed while
    # the server pipeline waits for the flush to end.
    events: list[Any] = [f"event {i}" for i in range(3000)]
    events[10] = b"\x00binary\xff"
    events[20] = {"price": 37789.625}
    sender = HTTPClientWebSocketSink(url=url)
    client = Pipeline("Client")
    client.build(IteratorSource(events), sender)

    report = pumpcore_executors.run(
        server, client, executor=executor, stop_after=2.0, **run_kwargs(executor)
    )

    expected = list(events)
    expected[20] = '{"price":37789.625}'  # JSON text on the wire
    assert received.Events == expected
    assert received.Contexts[0]["path"] == "/bspump/ws"
    assert received.Contexts[0]["peer"][0] == "127.0.0.1"
    assert report.errors == {}
    assert sender.pending == 0
    sent = sender.statistics()
    assert (sent.messages, sent.connects, sent.failures) == (3000, 1, 0)
    assert sent.flushes > 1
    served = server_source.statistics()
    assert (served.connections, served.messages, served.rejected) == (1, 3000, 0)


class EndingWebSocketSource(WebSocketSource):
    """Ends its input once the test's client is ``done`` and nothing is left."""

    def __init__(self, **config: Any) -> None:
        super().__init__(config={"address": "127.0.0.1 0", **config})
        self.done = threading.Event()

    async def read(self, max_items: int) -> Sequence[Received | Rejected] | None:
        items = await super().read(max_items)
        if not items and self.done.is_set():
            return None
        return items


def refuse_bad(context: Context, event: Any) -> Any:
    if event == "bad":
        raise ValueError("no bad words")
    return event


@every_executor
def test_bad_messages_are_that_messages_failure_and_the_server_stays_up(
    executor: ExecutorName,
) -> None:
    source = EndingWebSocketSource(max_message_size=100)
    sink, dead = ListSink(), ListSink()
    pipeline = Pipeline("Server")  # the hard policy: one bad message must not stop a server
    pipeline.build(source, refuse_bad, sink)
    pipeline.set_dead_letter(dead)

    def client() -> None:
        address = wait_for_address(source)

        async def main() -> None:
            polite = await Client.connect(address)
            for word in ("one", "bad", "two"):
                await polite.send(TextMessage(data=word))
            rude = await Client.connect(address)
            await rude.send(BytesMessage(data=b"x" * 101))
            closing = await rude.next_event()
            assert isinstance(closing, CloseConnection)
            assert closing.code == 1009
            await rude.stream.aclose()
            await polite.send(TextMessage(data="three"))
            with anyio.fail_after(10):
                while len(sink.Events) < 3 or len(dead.Events) < 2:
                    await anyio.sleep(0.01)
            await polite.stream.aclose()

        anyio.run(main)

    report, _ = run_with_client([pipeline], executor, client, when_done=source.done.set)
    assert sink.Events == ["one", "two", "three"]
    assert report.errors == {}
    stats = report.statistics["Server"]
    assert (stats.event_in, stats.warning, stats.error, stats.rejected) == (4, 1, 0, 1)
    failures: list[Failure] = dead.Events
    assert sorted((f.component_id, f.event) for f in failures) == [
        ("EndingWebSocketSource", None),
        ("refuse_bad", "bad"),
    ]
    rejected = next(f for f in failures if isinstance(f.exception, RejectedInputError))
    assert str(rejected.exception) == "a message over 100 bytes"


# ------------------------------------------------------------ the server's protocol duties


def run_async(backend: str, fn: Callable[[], Awaitable[None]]) -> None:
    anyio.run(fn, backend=backend)


@async_backends
def test_a_bad_handshake_is_answered_400_and_another_path_404(backend: str) -> None:
    source = WebSocketSource(config={"address": "127.0.0.1 0"})

    async def main() -> None:
        async with serving(source) as address:
            for request, status in (
                (b"GET /bspump/ws HTTP/1.1\r\nHost: h\r\n\r\n", b"400"),  # no upgrade
                (b"POST /bspump/ws HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", b"400"),
                (b"NONSENSE\r\n\r\n", b"400"),
            ):
                async with await anyio.connect_tcp(*address) as stream:
                    await stream.send(request)
                    answer = await stream.receive()
                    assert answer.split(b" ")[1] == status, answer
            async with await anyio.connect_tcp(*address) as stream:
                ws = WSConnection(ConnectionType.CLIENT)
                await stream.send(ws.send(Request(host="h", target="/elsewhere")))
                assert (await stream.receive()).startswith(b"HTTP/1.1 404")
            client = await Client.connect(address)  # still serving
            await client.stream.aclose()

    run_async(backend, main)
    assert source.statistics().rejected == 4
    assert source.statistics().connections == 1


@async_backends
def test_messages_pings_and_the_closing_handshake(backend: str) -> None:
    source = WebSocketSource(config={"address": "127.0.0.1 0"})

    async def main() -> None:
        async with serving(source) as address:
            client = await Client.connect(address, "/bspump/ws?token=1")
            await client.send(TextMessage(data="hello"))
            await client.send(BytesMessage(data=b"\x01\x02"))
            await client.send(TextMessage(data="frag", message_finished=False))
            await client.send(TextMessage(data="mented", message_finished=True))
            await client.send(Ping(payload=b"are you there"))
            assert await client.next_event() == Pong(payload=b"are you there")
            assert await read_all(source, 3) == ["hello", b"\x01\x02", "fragmented"]
            await client.send(CloseConnection(code=1000, reason="bye"))
            answer = await client.next_event()
            assert isinstance(answer, CloseConnection)
            assert answer.code == 1000
            with pytest.raises(anyio.EndOfStream):  # then the server closes the socket
                await client.stream.receive()
            await client.stream.aclose()

    run_async(backend, main)
    assert source.statistics().messages == 3


@async_backends
def test_a_message_over_max_message_size_closes_only_its_connection_with_1009(
    backend: str,
) -> None:
    source = WebSocketSource(config={"address": "127.0.0.1 0", "max_message_size": 100})

    async def main() -> None:
        async with serving(source) as address:
            polite = await Client.connect(address)
            rude = await Client.connect(address)
            await rude.send(BytesMessage(data=b"x" * 60, message_finished=False))
            await rude.send(BytesMessage(data=b"x" * 60, message_finished=True))
            closing = await rude.next_event()
            assert isinstance(closing, CloseConnection)
            assert closing.code == 1009
            await rude.send(closing.response())
            await rude.stream.aclose()
            await polite.send(TextMessage(data="still here"))
            rejected, message = await read_all(source, 2)
            assert message == "still here"
            assert isinstance(rejected, Rejected)
            assert (rejected.raw, rejected.reason) == (None, "a message over 100 bytes")
            assert rejected.context is not None
            assert rejected.context["path"] == "/bspump/ws"
            await polite.stream.aclose()

    run_async(backend, main)
    stats = source.statistics()
    assert (stats.too_large, stats.messages, stats.connections) == (1, 1, 2)


@async_backends
def test_a_full_buffer_pauses_the_connection_until_the_pipeline_takes_messages(
    backend: str,
) -> None:
    source = WebSocketSource(config={"address": "127.0.0.1 0", "max_buffered_bytes": 16})

    async def main() -> None:
        async with serving(source) as address:
            client = await Client.connect(address)
            for word in ("first...", "second..", "third..."):  # 8 bytes each
                await client.send(TextMessage(data=word))
            await client.send(Ping(payload=b"behind"))
            with anyio.move_on_after(0.2) as waiting:  # 16 bytes held: the third waits
                await client.next_event()
            assert waiting.cancelled_caught
            assert await read_all(source, 2) == ["first...", "second.."]
            assert await client.next_event() == Pong(payload=b"behind")
            assert await read_all(source, 1) == ["third..."]
            await client.stream.aclose()

    run_async(backend, main)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"path": "ws"}, "path"),
        ({"max_buffered_bytes": 0}, "max_buffered_bytes"),
        ({"address": "x y"}, "address"),
    ],
)
def test_bad_configuration_is_refused_at_build_time(config: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        WebSocketSource(config=config)
