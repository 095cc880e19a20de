"""KeyLookup: a bounded LRU cache in front of a store asked one key at a time; enrich_by_key."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpcore import ConfigError, Settings, use_settings
from pumpcore.lookup import (
    DictionaryLookup,
    KeyLookup,
    KeyLookupError,
    MappingLookup,
    enrich_by_key,
)
from pumpcore.testing import run_chain


class Store:
    """A dict asked one key at a time; raises for keys in ``broken``; counts fetches."""

    def __init__(self, data: dict[Any, Any] | None = None) -> None:
        self.data: dict[Any, Any] = dict(data or {})
        self.broken: set[Any] = set()
        self.fetches = 0

    def fetch(self, key: Any) -> Any:
        self.fetches += 1
        if key in self.broken:
            raise ConnectionError(f"store down for {key!r}")
        return self.data.get(key)


def test_dictionary_lookup_is_mapping_lookup() -> None:
    assert DictionaryLookup is MappingLookup


def test_hits_misses_absent_and_lru_eviction() -> None:
    store = Store({"a": 1, "b": 2, "c": 3})
    lookup = KeyLookup("L", store, cache_size=2)
    assert [lookup.get(k) for k in ("a", "a", "x", "x", "b", "c")] == [1, 1, None, None, 2, 3]
    assert store.fetches == 4  # a, x (absent: cached too), b, c
    s = lookup.statistics()
    assert (s.hits, s.misses, s.evictions, s.size) == (2, 4, 2, 2)
    lookup.get("b")  # b is now the most recent: c goes next
    lookup.get("a")
    assert lookup.get("b") == 2
    assert store.fetches == 5


def test_ttl_is_pipeline_time_and_misses_have_their_own() -> None:
    store = Store({"a": 1})
    lookup = KeyLookup("L", store, ttl=10, miss_ttl=1)
    assert lookup.get("a", now=100) == 1
    store.data["a"] = 2
    assert lookup.get("a", now=109.9) == 1
    assert lookup.get("a", now=110) == 2  # expired: fetched again
    assert lookup.get("z", now=110) is None
    store.data["z"] = 26
    assert lookup.get("z", now=110.5) is None
    assert lookup.get("z", now=111) == 26
    assert lookup.statistics().expired == 2


def test_errors_are_counted_never_cached() -> None:
    store = Store({"a": 1})
    store.broken.add("a")
    lookup = KeyLookup("L", store)
    with pytest.raises(ConnectionError):
        lookup.get("a")
    store.broken.clear()
    assert lookup.get("a") == 1
    s = lookup.statistics()
    assert (s.errors, s.misses, s.hits) == (1, 2, 0)


def test_config_from_the_lookup_section_then_arguments() -> None:
    settings = Settings.from_ini("[lookup:Users]\ncache_size = 3\nttl = 60\n")
    with use_settings(settings):
        lookup = KeyLookup("Users", Store())
        overridden = KeyLookup("Users", Store(), ttl=5)
    assert (lookup.cache_size, lookup.ttl, lookup.miss_ttl) == (3, 60, 60)
    assert (overridden.cache_size, overridden.ttl) == (3, 5)
    store = Store({k: k for k in range(5)})
    shrinking = KeyLookup("S", store)  # config= would win over the section below
    for k in range(5):
        shrinking.get(k)
    shrinking.reconfigure({"cache_size": "2"})
    assert len(shrinking) == 2
    assert shrinking.statistics().evictions == 3
    assert shrinking.get(4) == 4  # the most recent ones stayed
    assert store.fetches == 5


def test_bad_config() -> None:
    with pytest.raises(ConfigError, match="cache_size"):
        KeyLookup("L", Store(), cache_size=0)
    with pytest.raises(ConfigError, match="ttl"):
        KeyLookup("L", Store(), ttl=float("nan"))
    with pytest.raises(ConfigError, match="on_error"):
        enrich_by_key(KeyLookup("L", Store()), key="k", into="v", on_error="ignore")  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(
    cache_size=st.integers(1, 4),
    ttl=st.none() | st.floats(0.5, 5),
    ops=st.lists(
        st.tuples(
            st.sampled_from(["get", "set", "del", "break", "heal", "wait"]), st.integers(0, 6)
        ),
        max_size=60,
    ),
)
def test_cache_property(cache_size: int, ttl: float | None, ops: list[tuple[str, int]]) -> None:
    """Never more than cache_size entries; each answer is what the store held when it was
    fetched (and no older than ttl); every request is a hit or a miss; errors never cached."""
    store = Store()
    lookup = KeyLookup("P", store, cache_size=cache_size, ttl=ttl)
    fetched_at: dict[int, tuple[float, Any]] = {}  # key -> (time, store's value then)
    now, requests, errors = 0.0, 0, 0
    for op, key in ops:
        if op == "set":
            store.data[key] = f"v{key}@{now}"
        elif op == "del":
            store.data.pop(key, None)
        elif op == "break":
            store.broken.add(key)
        elif op == "heal":
            store.broken.discard(key)
        elif op == "wait":
            now += key / 2
        else:
            requests += 1
            before = store.fetches
            try:
                answer = lookup.get(key, now)
            except ConnectionError:
                errors += 1
                assert key in store.broken
                fetched_at.pop(key, None)
            else:
                if store.fetches > before:
                    fetched_at[key] = (now, store.data.get(key))
                at, value = fetched_at[key]
                assert answer == value
                if ttl is not None:
                    assert now - at < ttl
        s = lookup.statistics()
        assert len(lookup) == s.size <= cache_size
        assert s.hits + s.misses == requests
        assert s.errors == errors
        assert s.misses == store.fetches


def test_enrich_by_key_without_an_executor() -> None:
    store = Store({"u1": "Alice"})
    lookup = KeyLookup("Users", store)
    steps = enrich_by_key(lookup, key="user", into="name")
    assert [s.Id for s in steps] == ["Users.probe", "Users.fetch", "Users.apply"]
    events = [{"user": "u1"}, {"user": "u2"}, {"user": "u1"}]
    assert run_chain(steps, events) == [
        {"user": "u1", "name": "Alice"},
        {"user": "u2"},
        {"user": "u1", "name": "Alice"},
    ]
    assert store.fetches == 2
    dropping = enrich_by_key(
        KeyLookup("U2", store), key=lambda e: e["user"], into="name", on_absent="drop"
    )
    assert run_chain(dropping, [{"user": "u2"}, {"user": "u1"}]) == [
        {"user": "u1", "name": "Alice"}
    ]


def test_enrich_by_key_error_policies() -> None:
    store = Store({"u1": "Alice"})
    store.broken.add("u1")
    lookup = KeyLookup("Users", store)
    with pytest.raises(KeyLookupError, match="u1") as caught:
        run_chain(enrich_by_key(lookup, key="user", into="name"), [{"user": "u1"}])
    assert isinstance(caught.value.__cause__, ConnectionError)
    assert (caught.value.key, caught.value.event) == ("u1", {"user": "u1"})
    steps = enrich_by_key(lookup, key="user", into="name", on_error="default", default="?")
    assert run_chain(steps, [{"user": "u1"}]) == [{"user": "u1", "name": "?"}]
    steps = enrich_by_key(lookup, key="user", into="name", on_error="drop")
    assert run_chain(steps, [{"user": "u1"}]) == []
    assert lookup.statistics().errors == 3
    assert len(lookup) == 0
