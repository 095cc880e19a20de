"""RedisKeyFetcher against the real server: GET and HGET of one key behind a KeyLookup, under
every executor; store errors raised, counted and handled by the policy, never a silent None."""

from __future__ import annotations

import pumpcore_executors
import pytest
import redis
from pumpcore_executors import ExecutorName
from pumpcore_redis import RedisConnection, RedisKeyFetcher

from pumpcore import Pipeline
from pumpcore.common import IteratorSource, ListSink
from pumpcore.lookup import KeyLookup, enrich_by_key

from ...executors.conftest import run_kwargs
from ...servers import free_port
from .conftest import Keys

pytestmark = pytest.mark.timeout(30)


def test_get_and_hget_of_one_key(keys: Keys) -> None:
    keys.client.set(keys("user:u1"), "Alice")
    keys.client.hset(keys("h"), mapping={"cz": "Czechia"})
    by_get = RedisKeyFetcher(keys.connection(), prefix=keys("user:"))
    by_hget = RedisKeyFetcher(keys.connection(), hash=keys("h"))
    raw = RedisKeyFetcher(keys.connection(), hash=keys("h"), encoding="")
    try:
        assert by_get.fetch("u1") == "Alice"
        assert by_get.fetch("u2") is None
        assert by_hget.fetch("cz") == "Czechia"
        assert by_hget.fetch("sk") is None
        assert raw.fetch("cz") == b"Czechia"
    finally:
        by_get.close()
        by_hget.close()
        raw.close()


def test_the_cache_answers_what_redis_held_at_fetch_time(keys: Keys) -> None:
    keys.client.set(keys("u1"), "Alice")
    lookup = KeyLookup("U", RedisKeyFetcher(keys.connection(), prefix=keys("")), ttl=5)
    assert lookup.get("u1", now=0) == "Alice"
    keys.client.set(keys("u1"), "Alicia")
    assert lookup.get("u1", now=4) == "Alice"  # cached
    assert lookup.get("u1", now=5) == "Alicia"  # expired: asked again
    assert lookup.get("nobody", now=5) is None
    s = lookup.statistics()
    assert (s.hits, s.misses, s.expired) == (1, 3, 1)


def test_enrich_by_key_on_every_executor(keys: Keys, executor: ExecutorName) -> None:
    keys.client.hset(keys("users"), mapping={f"u{i}": f"name{i}" for i in range(10)})
    fetcher = RedisKeyFetcher(keys.connection(), hash=keys("users"))
    lookup = KeyLookup("Users", fetcher, cache_size=5)
    events = [{"user": f"u{n % 12}"} for n in range(60)]  # u10, u11 unknown
    sink = ListSink()
    p = Pipeline("P", config={"async_concurency_limit": 8})
    p.build(
        IteratorSource([dict(e) for e in events]),
        *enrich_by_key(lookup, key="user", into="name"),
        sink,
    )
    try:
        pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))
    finally:
        fetcher.close()
    assert sink.Events == [
        {**e, "name": f"name{e['user'][1:]}"} if int(e["user"][1:]) < 10 else e for e in events
    ]
    s = lookup.statistics()
    assert s.hits + s.misses == 60
    assert s.size <= 5
    assert s.errors == 0


def test_a_wrong_type_key_is_an_error_not_a_none(keys: Keys, executor: ExecutorName) -> None:
    keys.client.set(keys("u1"), "Alice")
    keys.client.hset(keys("u2"), mapping={"a": "b"})  # GET on a hash: WRONGTYPE
    fetcher = RedisKeyFetcher(keys.connection(), prefix=keys(""))
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        fetcher.fetch("u2")
    lookup = KeyLookup("Users", fetcher)
    sink = ListSink()
    p = Pipeline("P", error_policy="soft")
    events = [{"user": u} for u in ("u1", "u2", "u1", "u2")]
    p.build(IteratorSource(events), *enrich_by_key(lookup, key="user", into="name"), sink)
    try:
        pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))
    finally:
        fetcher.close()
    assert sink.Events == [{"user": "u1", "name": "Alice"}] * 2
    assert lookup.statistics().errors == 2
    assert p.statistics().warning == 2  # on_error="fail": through the pipeline's policy


def test_a_server_that_is_gone_is_counted_and_the_default_used() -> None:
    gone = RedisConnection(config={"host": "127.0.0.1", "port": free_port(), "socket_timeout": 0.5})
    fetcher = RedisKeyFetcher(gone, prefix="x:")
    lookup = KeyLookup("Users", fetcher)
    with pytest.raises(redis.ConnectionError):
        lookup.get("u1")
    sink = ListSink()
    p = Pipeline("P")
    steps = enrich_by_key(lookup, key="user", into="name", on_error="default", default="?")
    p.build(IteratorSource([{"user": "u1"}]), *steps, sink)
    pumpcore_executors.run(p, executor="threads", handle_signals=False)
    assert sink.Events == [{"user": "u1", "name": "?"}]
    assert lookup.statistics().errors == 2
