"""Helpers for the tests of the HTTP and WebSocket servers: a pipeline runs under an executor in
the test's thread while a real client talks to it from a worker thread."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import pumpcore_executors
import pytest
from anyio.abc import SocketStream
from pumpcore_executors import ExecutorName, RunReport
from pumpcore_http import WebSocketSource
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Event, Request

from pumpcore import Pipeline, Received
from pumpcore.testing import conformance

from ...executors.conftest import run_kwargs

T = TypeVar("T")

every_executor = pytest.mark.parametrize("executor", conformance.executor_params())
async_backends = pytest.mark.parametrize(
    "backend", [p for p in conformance.executor_params() if p.id in ("asyncio", "trio")]
)


def wait_for_address(source: Any, timeout: float = 10.0) -> tuple[str, int]:
    """The server source's bound address, once its ``open`` ran in the executor."""
    deadline = time.monotonic() + timeout
    while source.address is None:
        if time.monotonic() > deadline:
            raise TimeoutError("the server source never started listening")
        time.sleep(0.005)
    address: tuple[str, int] = source.address
    return address


def run_with_client(
    pipelines: Sequence[Pipeline],
    executor: ExecutorName,
    client: Callable[[], T],
    *,
    stop_after: float = 20.0,
    when_done: Callable[[], None] | None = None,
) -> tuple[RunReport, T]:
    """Run ``pipelines`` under ``executor`` while ``client()`` runs in a worker thread; then call
    ``when_done`` (it ends the run early, e.g. by finishing a source), whatever happened."""

    def job() -> T:
        try:
            return client()
        finally:
            if when_done is not None:
                when_done()

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(job)
        report = pumpcore_executors.run(
            *pipelines, executor=executor, stop_after=stop_after, **run_kwargs(executor)
        )
        return report, future.result(timeout=10)


@asynccontextmanager
async def serving(source: WebSocketSource) -> AsyncIterator[tuple[str, int]]:
    """Open and serve ``source`` as an executor would (no pipeline: the test reads it)."""
    await source.open()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(source.serve)
            assert source.address is not None
            yield source.address
            tg.cancel_scope.cancel()
    finally:
        await source.aclose()


class Client:
    """A WebSocket client driven by hand: wsproto over an anyio TCP stream."""

    def __init__(self, stream: SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)

    @classmethod
    async def connect(cls, address: tuple[str, int], path: str = "/bspump/ws") -> Client:
        client = cls(await anyio.connect_tcp(*address))
        await client.send(Request(host="localhost", target=path))
        assert isinstance(await client.next_event(), AcceptConnection)
        return client

    async def send(self, event: Event) -> None:
        await self.stream.send(self.ws.send(event))

    async def next_event(self) -> Event:
        while True:
            for event in self.ws.events():
                return event
            try:
                data: bytes | None = await self.stream.receive()
            except anyio.EndOfStream:
                data = None
            self.ws.receive_data(data)


async def read_all(source: WebSocketSource, n: int) -> list[Any]:
    """The next ``n`` items ``read`` gives: events, and ``Rejected`` inputs as they are."""
    events: list[Any] = []
    with anyio.fail_after(5):
        while len(events) < n:
            items = await source.read(100)
            assert items is not None
            events.extend(item.event if isinstance(item, Received) else item for item in items)
    return events
