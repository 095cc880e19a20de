"""The NATS adapter's tests run against the machine's NATS server with JetStream
(DEVELOPERS.md), each on streams of its own, deleted afterwards."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import ConsumerConfig, DeliverPolicy, StorageType

from ...executors.conftest import executor as executor
from ...servers import service

T = TypeVar("T")


def url(address: tuple[str, int] | None = None) -> str:
    host, port = address or service("nats")
    return f"nats://{host}:{port}"


class JetStream:
    """Test-side JetStream access: streams made and deleted, messages published and read back.
    Each call is its own connection on its own loop (it is called from worker threads)."""

    def __init__(self) -> None:
        self.url = url()
        self.streams: list[str] = []
        self.read: dict[str, list[bytes]] = {}
        self._lock = threading.Lock()

    def run(self, fn: Callable[[NATS], Awaitable[T]]) -> T:
        async def go() -> T:
            nc = await nats.connect(self.url)
            try:
                return await fn(nc)
            finally:
                await nc.close()

        return asyncio.run(go())

    def stream(self, label: str) -> tuple[str, str]:
        """A new file-backed stream; returns its name and its one subject."""
        token = uuid.uuid4().hex[:10]
        name, subject = f"PCT_{label.upper()}_{token}", f"pct.{label}.{token}"

        async def add(nc: NATS) -> None:
            await nc.jetstream().add_stream(name=name, subjects=[subject], storage=StorageType.FILE)

        self.run(add)
        self.streams.append(name)
        return name, subject

    def publish(self, subject: str, payloads: list[bytes]) -> None:
        async def pub(nc: NATS) -> None:
            js = nc.jetstream()
            futures = [await js.publish_async(subject, p) for p in payloads]
            await asyncio.gather(*futures)

        self.run(pub)

    def messages(self, stream: str) -> list[bytes]:
        """Every message ``stream`` holds, in order (read by an ordered, ephemeral view)."""
        with self._lock:
            got = self.read.setdefault(stream, [])

            async def fetch(nc: NATS) -> None:
                js = nc.jetstream()
                info = await js.stream_info(stream)
                last = info.state.last_seq
                if last <= len(got):
                    return
                sub = await js.pull_subscribe(
                    "",
                    stream=stream,
                    config=ConsumerConfig(
                        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                        opt_start_seq=len(got) + 1,
                        inactive_threshold=5.0,
                    ),
                )
                while len(got) < last:
                    batch = await sub.fetch(min(1000, last - len(got)), timeout=2)
                    for m in batch:
                        got.append(m.data)
                        await m.ack()
                await sub.unsubscribe()

            self.run(fetch)
            return list(got)

    def acked(self, stream: str, durable: str) -> int:
        """The consumer's acknowledgement floor: every message up to it was acknowledged."""

        async def info(nc: NATS) -> int:
            try:
                consumer = await nc.jetstream().consumer_info(stream, durable)
            except nats.js.errors.NotFoundError:
                return 0
            floor = consumer.ack_floor
            return 0 if floor is None else int(floor.stream_seq or 0)

        return self.run(info)

    def delete_all(self) -> None:
        async def delete(nc: NATS) -> None:
            js = nc.jetstream()
            for name in self.streams:
                await js.delete_stream(name)

        self.run(delete)


@pytest.fixture
def jetstream() -> Iterator[JetStream]:
    js = JetStream()
    try:
        yield js
    finally:
        js.delete_all()
