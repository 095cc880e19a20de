"""anyio-based adapters (``AsyncSource`` with a background ``serve``, ``AsyncSink``) run under
every executor: natively on asyncio and trio, through the bridge's loop thread on sync and
threads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from pumpcore_executors import ExecutorName, run

from pumpcore import AsyncSink, AsyncSource, Context, Pipeline, Received

from .conftest import run_kwargs


class CountingServer(AsyncSource):
    """Serves ``n`` numbers from a background task, as a server would from its connections."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.acked: list[int] = []
        self.closed = False

    async def open(self) -> None:
        streams = anyio.create_memory_object_stream[int](10)
        self._send: MemoryObjectSendStream[int] = streams[0]
        self._recv: MemoryObjectReceiveStream[int] = streams[1]

    async def serve(self) -> None:
        async with self._send:
            for i in range(self.n):
                await self._send.send(i)

    async def read(self, max_items: int) -> Sequence[Received] | None:
        items: list[Received] = []
        try:
            with anyio.move_on_after(0.05):
                first = await self._recv.receive()
                items.append(Received(first, position=first))
            while len(items) < max_items:
                value = self._recv.receive_nowait()
                items.append(Received(value, position=value))
        except anyio.WouldBlock:
            pass
        except anyio.EndOfStream:
            return items or None
        return items

    async def acknowledge(self, positions: Sequence[Any]) -> None:
        self.acked.extend(positions)

    async def aclose(self) -> None:
        await self._recv.aclose()
        self.closed = True


class DurableList(AsyncSink):
    """Buffers in ``process``, makes durable in ``aflush`` (with a checkpoint on the loop)."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer: list[Any] = []
        self.durable: list[Any] = []
        self.opened = self.closed = False

    async def aopen(self) -> None:
        self.opened = True

    def process(self, context: Context, event: Any) -> None:
        self.buffer.append(event)

    async def aflush(self) -> None:
        await anyio.sleep(0)
        self.durable.extend(self.buffer)
        self.buffer.clear()

    async def aclose(self) -> None:
        self.closed = True


@pytest.mark.timeout(30)
def test_async_server_source_and_async_sink_run_on_every_executor(
    executor: ExecutorName,
) -> None:
    server, sink = CountingServer(200), DurableList()
    pipeline = Pipeline("P")
    pipeline.build(server, lambda context, event: event * 2, sink)
    report = run(pipeline, executor=executor, **run_kwargs(executor))
    assert report.errors == {}
    assert sink.durable == [i * 2 for i in range(200)]
    assert sink.buffer == []
    assert server.acked == list(range(200))
    assert (sink.opened, sink.closed, server.closed) == (True, True, True)
