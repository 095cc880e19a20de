"""The Redis adapter's tests run against the machine's Redis, on keys unique to each test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from pumpcore_redis import RedisConnection

from ...executors.conftest import executor as executor
from ...servers import service


class Keys:
    """Unique key names for one test, deleted afterwards; a client and connections to Redis."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.prefix = f"pumpcore-test:{uuid.uuid4().hex[:12]}:"
        self.client = redis.Redis(host=address[0], port=address[1])

    def __call__(self, name: str) -> str:
        return self.prefix + name

    def connection(
        self, address: tuple[str, int] | None = None, **config: object
    ) -> RedisConnection:
        host, port = address or self.address
        return RedisConnection(
            config={
                "host": host,
                "port": port,
                "reconnect_delay": 0.1,
                "socket_timeout": 2,
                **config,
            }
        )

    def cleanup(self) -> None:
        keys = list(self.client.scan_iter(match=self.prefix + "*"))
        if keys:
            self.client.delete(*keys)
        self.client.close()


@pytest.fixture
def keys() -> Iterator[Keys]:
    made = Keys(service("redis"))
    try:
        yield made
    finally:
        made.cleanup()
