"""RedisKeyFetcher: one key at a time from Redis, for a ``pumpcore.lookup.KeyLookup``."""

from __future__ import annotations

import threading
from typing import Any

import redis

from ._connection import RedisConnection


class RedisKeyFetcher:
    """Reads one key for a ``KeyLookup``: ``HGET hash key`` when ``hash`` is given, else
    ``GET prefix + key``. A key Redis does not have answers None (the lookup caches the
    absence). Its ``fetch`` blocks; ``enrich_by_key`` runs it in a worker thread.

    One client is shared by every thread (redis-py's pool); it is made again after a
    connection failure. Errors are raised, never turned into None.

    Args:
        connection: where to read.
        hash: a hash whose fields are the keys.
        prefix: put in front of the key for ``GET`` (without ``hash``).
        encoding: how values are decoded; empty: keep them as ``bytes``.

    Example:
        >>> RedisKeyFetcher(RedisConnection(), hash="countries").hash
        'countries'
    """

    def __init__(
        self,
        connection: RedisConnection,
        *,
        hash: str = "",
        prefix: str = "",
        encoding: str = "utf-8",
    ) -> None:
        if hash and prefix:
            raise ValueError(f"{type(self).__name__}: prefix= is for GET; not with hash=")
        self.connection = connection
        self.hash = hash
        self.prefix = prefix
        self.encoding = encoding
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None

    def _get_client(self) -> redis.Redis:
        with self._lock:
            if self._client is None:
                self._client = self.connection.client()
            return self._client

    def fetch(self, key: Any) -> Any:
        """The value of ``key``, or None when Redis has none.

        Raises:
            redis.RedisError: the server is gone, or the key holds another type.
        """
        client = self._get_client()
        name = key.decode() if isinstance(key, bytes) else str(key)
        try:
            raw = client.hget(self.hash, name) if self.hash else client.get(self.prefix + name)
        except (redis.ConnectionError, redis.TimeoutError):
            self.close()
            raise
        if raw is None:
            return None
        if self.encoding and isinstance(raw, bytes):
            return raw.decode(self.encoding)
        return raw

    def close(self) -> None:
        """Drop the client (the next fetch makes a new one)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
