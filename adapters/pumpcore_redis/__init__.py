"""Redis on redis-py: a stream source in a consumer group (XREADGROUP, XACK after the sinks
flushed, pending entries read again after a restart), a sink appending to streams or lists in
pipelined chunks on flush, a lookup provider on a hash or a key pattern, and a key fetcher
(GET or HGET of one key) for a ``KeyLookup``.

Install with ``pip install "pumpcore[redis]"``.
"""

from ._connection import RedisConnection as RedisConnection
from ._fetch import RedisKeyFetcher as RedisKeyFetcher
from ._lookup import RedisLookupProvider as RedisLookupProvider
from ._sink import RedisSink as RedisSink
from ._sink import RedisSinkStatistics as RedisSinkStatistics
from ._source import RedisStreamSource as RedisStreamSource

__all__ = (
    "RedisConnection",
    "RedisKeyFetcher",
    "RedisLookupProvider",
    "RedisSink",
    "RedisSinkStatistics",
    "RedisStreamSource",
)
