"""RedisLookupProvider: a lookup's table from a Redis hash, or from the keys matching a pattern."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._connection import RedisConnection


class RedisLookupProvider:
    """Loads a hash (HGETALL ``key``) or every string key matching ``pattern`` (SCAN + MGET)
    for a ``pumpcore.lookup`` lookup: the lookup is the cache, its ``refresh_period`` the
    refresh. A load that finds what the previous one found answers None (unchanged).

    Args:
        connection: where to read.
        key: a hash whose fields are the lookup's keys.
        pattern: a ``SCAN MATCH`` pattern; the lookup's keys are the matching keys with
            ``prefix`` removed.
        prefix: stripped from the keys found by ``pattern``.
        encoding: how keys and values are decoded; empty: keep them as ``bytes``.

    Example:
        >>> RedisLookupProvider(RedisConnection(), pattern="user:*", prefix="user:").prefix
        'user:'
    """

    def __init__(
        self,
        connection: RedisConnection,
        *,
        key: str = "",
        pattern: str = "",
        prefix: str = "",
        encoding: str = "utf-8",
    ) -> None:
        if bool(key) == bool(pattern):
            raise ValueError(f"{type(self).__name__}: give key= (a hash) or pattern=, one of them")
        self.connection = connection
        self.key = key
        self.pattern = pattern
        self.prefix = prefix
        self.encoding = encoding
        self._last: dict[Any, Any] | None = None

    def load(self) -> Mapping[Any, Any] | None:
        """The table, or None when it is the same as at the previous load.

        Raises:
            redis.RedisError: the server is gone, or the key is not a hash.
        """
        client = self.connection.client()
        try:
            if self.key:
                raw: dict[Any, Any] = dict(client.hgetall(self.key))
            else:
                keys = sorted(client.scan_iter(match=self.pattern, count=1000))
                raw = {}
                for start in range(0, len(keys), 1000):
                    chunk = keys[start : start + 1000]
                    raw.update(zip(chunk, client.mget(chunk), strict=True))
        finally:
            client.close()
        decode = self._decode
        cut = len(self.prefix)
        data = {
            (decode(k)[cut:] if cut else decode(k)): decode(v)
            for k, v in raw.items()
            if v is not None
        }
        if data == self._last:
            return None
        self._last = data
        return data

    def _decode(self, value: bytes) -> Any:
        return value.decode(self.encoding) if self.encoding else value
