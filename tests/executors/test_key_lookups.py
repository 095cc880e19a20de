"""KeyLookup with enrich_by_key on every executor: blocking fetches in worker threads, async
fetches awaited, the loop never blocked (the watchdog of ``run_kwargs``), outputs in input
order, every request a hit or a miss, fetch errors counted and handled by the policy."""

from __future__ import annotations

import threading
import time
from typing import Any

import anyio
import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName

from pumpcore import Context, Generator, Pipeline
from pumpcore.common import IteratorSource, ListSink
from pumpcore.lookup import KeyLookup, enrich_by_key

from .conftest import run_kwargs

pytestmark = pytest.mark.timeout(30)

USERS = {f"u{i}": f"name{i}" for i in range(20)}


class BlockingStore:
    """A blocking store: each fetch sleeps (longer than the watchdog would allow on a loop,
    when many run one after another). Keys in ``broken`` raise."""

    def __init__(self, broken: frozenset[str] = frozenset()) -> None:
        self.lock = threading.Lock()
        self.fetched: list[str] = []
        self.threads: set[int] = set()
        self.broken = broken

    def fetch(self, key: str) -> Any:
        time.sleep(0.005)
        with self.lock:
            self.fetched.append(key)
            self.threads.add(threading.get_ident())
        if key in self.broken:
            raise ConnectionError(f"store down for {key}")
        return USERS.get(key)


class AsyncStore:
    def __init__(self) -> None:
        self.fetched: list[str] = []

    async def fetch(self, key: str) -> Any:
        await anyio.sleep(0.005)
        self.fetched.append(key)
        return USERS.get(key)


def events() -> list[dict[str, Any]]:
    # 200 events over 25 keys (5 unknown to the store), repeating: mostly hits.
    return [{"n": n, "user": f"u{(n * 7) % 25}"} for n in range(200)]


def expected(evs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**e, "name": USERS[e["user"]]} if e["user"] in USERS else e for e in evs]


def run(executor: ExecutorName, pipeline: Pipeline) -> Any:
    return pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))


@pytest.mark.parametrize("kind", ["blocking", "async"])
def test_events_are_enriched_in_order(executor: ExecutorName, kind: str) -> None:
    store: BlockingStore | AsyncStore = BlockingStore() if kind == "blocking" else AsyncStore()
    lookup = KeyLookup("Users", store, cache_size=10)
    sink = ListSink()
    p = Pipeline("P", config={"async_concurency_limit": 8})
    p.build(
        IteratorSource([dict(e) for e in events()], id="S"),
        *enrich_by_key(lookup, key="user", into="name"),
        sink,
    )
    run(executor, p)
    assert sink.Events == expected(events())
    s = lookup.statistics()
    assert s.hits + s.misses == 200
    assert s.misses == len(store.fetched)
    assert s.size <= 10
    assert s.evictions > 0  # 25 keys through 10 places
    assert s.errors == 0
    if isinstance(store, BlockingStore) and executor != "sync":
        assert threading.get_ident() not in store.threads  # never on the loop's thread
    st = p.statistics()
    assert (st.event_in, st.event_out) == (200, 200)
    assert p.in_flight() == 0


@pytest.mark.parametrize("policy", ["fail", "default", "drop"])
def test_a_store_error_is_counted_and_follows_the_policy(
    executor: ExecutorName, policy: str
) -> None:
    store = BlockingStore(broken=frozenset({"u3"}))
    lookup = KeyLookup("Users", store, cache_size=100)
    sink = ListSink()
    p = Pipeline("P", error_policy="soft")
    steps = enrich_by_key(lookup, key="user", into="name", on_error=policy, default="?")  # type: ignore[arg-type]
    p.build(IteratorSource([dict(e) for e in events()], id="S"), *steps, sink)
    run(executor, p)
    broken = [e for e in events() if e["user"] == "u3"]
    s = lookup.statistics()
    assert s.errors == len(broken) == 8  # never cached: asked again each time
    st = p.statistics()
    if policy == "fail":
        assert st.warning == len(broken)
        assert len(sink.Events) == 200 - len(broken)
    elif policy == "drop":
        assert st.event_drop == len(broken)
        assert len(sink.Events) == 200 - len(broken)
    else:
        assert [e["name"] for e in sink.Events if e["user"] == "u3"] == ["?"] * len(broken)
    ok = [e for e in sink.Events if e["user"] != "u3"]
    assert ok == [e for e in expected(events()) if e["user"] != "u3"]


class Fan(Generator):
    """Three events per input, which the pipeline passes on with the input's one context."""

    def generate(self, context: Context, event: Any) -> list[dict[str, Any]]:
        return [{"n": event * 3 + i, "user": f"u{(event + i) % 25}"} for i in range(3)]


def test_events_sharing_a_context_keep_their_own_answers(executor: ExecutorName) -> None:
    store = BlockingStore()
    lookup = KeyLookup("Users", store, cache_size=4)
    sink = ListSink()
    p = Pipeline("P", config={"async_concurency_limit": 8})
    p.build(IteratorSource(range(40)), Fan(), *enrich_by_key(lookup, key="user", into="name"), sink)
    run(executor, p)
    want = [{"n": e * 3 + i, "user": f"u{(e + i) % 25}"} for e in range(40) for i in range(3)]
    assert sink.Events == expected(want)
