"""KeyLookup: ask a store for one key when it is missing, behind a bounded cache (BSPump's
``MySQLLookup``/``ElasticSearchLookup`` with their ``cache``, and ``AsyncLookupMixin``).

Rules:
1. The cache is a least-recently-used table of at most ``cache_size`` entries. An entry is an
   answer of the store: a value, or "the store has no such key" (a fetch that returned None),
   which is cached too (negative caching) so an unknown key does not hit the store per event.
2. An entry fetched at ``t`` serves until ``t + ttl`` (``miss_ttl`` for an absent key); time is
   always an argument (the pipeline's ``time()``), never read here. No ``ttl``: until evicted.
3. Every request is counted exactly once, as a hit (answered from the cache) or a miss (needs a
   fetch). A fetch that raised is counted in ``errors`` and never cached: the next request asks
   the store again.
4. The lookup never does I/O itself: ``probe`` and ``store`` are pure. The fetch (a
   ``KeyFetcher``, blocking, or an ``AsyncKeyFetcher``) runs where the caller runs it; in a
   pipeline, ``enrich_by_key`` makes it an offloaded step (``pumpcore/_pipeline.py`` rule 5), so
   executors run it in a worker thread or await it, never on their loop, and every cache access
   stays on the pipeline's thread.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import attrs

from .._component import Context, Processor
from .._config import ConfigRule, Configurable, at_least, current_settings, in_range
from .._errors import ConfigError


@runtime_checkable
class KeyFetcher(Protocol):
    """Asks a store for one key. ``fetch`` may block; it runs off the executor's loop."""

    def fetch(self, key: Any) -> Any:
        """The store's value for ``key``, or None when the store has no such key."""
        ...


class AsyncKeyFetcher(Protocol):
    """A ``KeyFetcher`` written on anyio: its ``fetch`` is awaited."""

    async def fetch(self, key: Any) -> Any:
        """The store's value for ``key``, or None when the store has no such key."""
        ...


def is_async_fetcher(fetcher: KeyFetcher | AsyncKeyFetcher) -> bool:
    """True when ``fetcher.fetch`` is an ``async def`` (it must be awaited, not called)."""
    return inspect.iscoroutinefunction(fetcher.fetch)


@attrs.frozen
class Hit:
    """An answer from the cache: ``found`` False when the store had no such key."""

    found: bool
    value: Any


@attrs.frozen
class KeyLookupStatistics:
    """A ``KeyLookup``'s counters (``KeyLookup.statistics()``).

    Attributes:
        hits: requests answered from the cache (a cached absence included).
        misses: requests that needed a fetch (not cached, or expired).
        evictions: entries dropped to keep at most ``cache_size``.
        expired: entries dropped because their ``ttl`` had passed.
        errors: fetches that raised (never cached).
        size: entries in the cache now.
    """

    hits: int
    misses: int
    evictions: int
    expired: int
    errors: int
    size: int


class KeyLookup(Configurable):
    """A per-key lookup: a bounded LRU cache in front of a store asked one key at a time.

    Use it in a pipeline with ``enrich_by_key``; without one, ``get`` fetches in the caller's
    thread. Its config is the ``[lookup:ID]`` section of the settings in force when it is made
    (``use_settings``), then ``config=``, then the keyword arguments given.

    Config:
        cache_size: at most this many entries (least recently used go first); >= 1.
        ttl: seconds an entry serves before it is fetched again; 0: until evicted.
        miss_ttl: the same for a cached absence; 0: as ``ttl``.

    Args:
        id: the lookup id.
        fetcher: asks the store for one key (``KeyFetcher``, or ``AsyncKeyFetcher``).
        config: keys overriding ``ConfigDefaults`` and the config section.
        cache_size: the config key, when given.
        ttl: the config key, when given (None: not given).
        miss_ttl: the config key, when given (None: not given).

    Raises:
        ConfigError: ``cache_size`` < 1, or a ``ttl`` that is not a finite number >= 0.

    Example:
        >>> class Squares:
        ...     def fetch(self, key):
        ...         return key * key if key >= 0 else None
        >>> squares = KeyLookup("Squares", Squares(), cache_size=2)
        >>> squares.get(3), squares.get(3), squares.get(-1)
        (9, 9, None)
        >>> s = squares.statistics()
        >>> s.hits, s.misses, s.size
        (1, 2, 2)
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"cache_size": 1024, "ttl": 0.0, "miss_ttl": 0.0}
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "cache_size": in_range(1, 2**40),
        "ttl": at_least(0),
        "miss_ttl": at_least(0),
    }

    def __init__(
        self,
        id: str,
        fetcher: KeyFetcher | AsyncKeyFetcher,
        config: Mapping[str, Any] | None = None,
        *,
        cache_size: int | None = None,
        ttl: float | None = None,
        miss_ttl: float | None = None,
    ) -> None:
        self.fetcher = fetcher
        # key -> (found, value, expires at or None)
        self._cache: OrderedDict[Any, tuple[bool, Any, float | None]] = OrderedDict()
        self._hits = self._misses = self._evictions = self._expired = self._errors = 0
        given = {"cache_size": cache_size, "ttl": ttl, "miss_ttl": miss_ttl}
        merged = {**(config or {}), **{k: v for k, v in given.items() if v is not None}}
        super().__init__(id=id, config=merged)
        section = current_settings().section(f"lookup:{self.Id}")
        if section:
            self.reconfigure(section)

    def apply_config(self) -> None:
        """Take ``cache_size``, ``ttl`` and ``miss_ttl``; evict beyond a smaller size."""
        config = self.Config
        self.cache_size = int(config["cache_size"])
        self.ttl: float | None = float(config["ttl"]) or None
        self.miss_ttl: float | None = float(config["miss_ttl"]) or self.ttl
        self._evict()

    def _evict(self) -> None:
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
            self._evictions += 1

    @property
    def is_async(self) -> bool:
        """True when the fetcher must be awaited."""
        return is_async_fetcher(self.fetcher)

    def probe(self, key: Any, now: float = 0.0) -> Hit | None:
        """The cached answer for ``key`` at time ``now`` (counted as a hit), or None (counted as
        a miss: the caller fetches and gives the answer to ``store`` or ``fetch_failed``)."""
        entry = self._cache.get(key)
        if entry is not None:
            found, value, expires = entry
            if expires is None or now < expires:
                self._cache.move_to_end(key)
                self._hits += 1
                return Hit(found, value)
            del self._cache[key]
            self._expired += 1
        self._misses += 1
        return None

    def store(self, key: Any, value: Any, now: float = 0.0) -> None:
        """Cache what the store answered for ``key`` at ``now`` (None: no such key), evicting
        the least recently used entries beyond ``cache_size``."""
        found = value is not None
        ttl = self.ttl if found else self.miss_ttl
        self._cache[key] = (found, value, None if ttl is None else now + ttl)
        self._cache.move_to_end(key)
        self._evict()

    def fetch_failed(self, key: Any, exception: Exception) -> None:
        """A fetch for ``key`` raised: counted, nothing cached."""
        self._errors += 1

    def get(self, key: Any, now: float = 0.0) -> Any:
        """The value for ``key`` (None: the store has none), fetched in this thread on a miss.

        Raises:
            TypeError: the fetcher is async.
            Exception: what the fetcher raised (counted in ``errors``).
        """
        if self.is_async:
            raise TypeError(f"KeyLookup {self.Id!r}: its fetcher is async; use enrich_by_key")
        hit = self.probe(key, now)
        if hit is not None:
            return hit.value
        try:
            value = self.fetcher.fetch(key)
        except Exception as exc:
            self.fetch_failed(key, exc)
            raise
        self.store(key, value, now)
        return value

    def invalidate(self, key: Any = None) -> None:
        """Forget ``key``'s entry, or every entry when ``key`` is None."""
        if key is None:
            self._cache.clear()
        else:
            self._cache.pop(key, None)

    def __len__(self) -> int:
        return len(self._cache)

    def statistics(self) -> KeyLookupStatistics:
        """The lookup's counters now."""
        return KeyLookupStatistics(
            self._hits, self._misses, self._evictions, self._expired, self._errors, len(self._cache)
        )


class KeyLookupError(Exception):
    """A ``KeyLookup``'s fetch failed and the enricher's ``on_error`` is ``"fail"`` (the cause
    is the fetcher's exception).

    Attributes:
        key: the key that was fetched.
        event: the event being enriched (the pipeline's error policy sees the steps' internal
            carrier instead; this is the event itself).
    """

    def __init__(self, message: str, key: Any, event: Any) -> None:
        super().__init__(message)
        self.key = key
        self.event = event


OnError = Literal["fail", "drop", "default"]

_PENDING = "pending"
_DONE = "done"
_FAILED = "failed"


@attrs.define
class _Keyed:
    """What passes from ``probe`` to ``apply``: the event and its lookup's answer. It travels
    as the event (not in the context, which a generator may share between several events in
    flight at once)."""

    event: Any
    key: Any
    phase: str
    found: bool = False
    value: Any = attrs.field(default=None, repr=False)
    error: Exception | None = None


class _Probe(Processor):
    def __init__(self, enricher: _Enricher, id: str) -> None:
        super().__init__(id=id)
        self._e = enricher

    def process(self, context: Context, event: Any) -> Any:
        e = self._e
        key = e.key_of(event)
        now = self.Pipeline.time() if self.Pipeline is not None else 0.0
        hit = e.lookup.probe(key, now)
        if hit is None:
            return _Keyed(event, key, _PENDING)
        return _Keyed(event, key, _DONE, hit.found, hit.value)


class _Fetch(Processor):
    blocking = True

    def __init__(self, enricher: _Enricher, id: str) -> None:
        super().__init__(id=id)
        self._e = enricher

    def process(self, context: Context, event: Any) -> Any:
        state: _Keyed = event
        if state.phase == _PENDING:
            try:
                state.value = self._e.lookup.fetcher.fetch(state.key)
                state.found = state.value is not None
            except Exception as exc:
                state.error = exc
        return state


class _AsyncFetch(Processor):
    def __init__(self, enricher: _Enricher, id: str) -> None:
        super().__init__(id=id)
        self._e = enricher

    async def process(self, context: Context, event: Any) -> Any:
        state: _Keyed = event
        if state.phase == _PENDING:
            try:
                state.value = await self._e.lookup.fetcher.fetch(state.key)
                state.found = state.value is not None
            except Exception as exc:
                state.error = exc
        return state


class _Apply(Processor):
    def __init__(self, enricher: _Enricher, id: str) -> None:
        super().__init__(id=id)
        self._e = enricher

    def process(self, context: Context, event: Any) -> Any:
        e = self._e
        state: _Keyed = event
        event = state.event
        if state.phase == _PENDING:
            if state.error is not None:
                e.lookup.fetch_failed(state.key, state.error)
                if e.on_error == "fail":
                    raise KeyLookupError(
                        f"KeyLookup {e.lookup.Id!r}: fetching {state.key!r} failed: "
                        f"{state.error!r}",
                        state.key,
                        event,
                    ) from state.error
                if e.on_error == "drop":
                    return None
                return e.merge(event, e.default)
            now = self.Pipeline.time() if self.Pipeline is not None else 0.0
            e.lookup.store(state.key, state.value, now)
        if not state.found:
            return None if e.on_absent == "drop" else event
        return e.merge(event, state.value)


class _Enricher:
    def __init__(
        self,
        lookup: KeyLookup,
        key: str | Callable[[Any], Any],
        into: str | Callable[[Any, Any], Any],
        on_absent: Literal["keep", "drop"],
        on_error: OnError,
        default: Any,
    ) -> None:
        self.lookup = lookup
        if callable(key):
            self.key_of: Callable[[Any], Any] = key
        else:

            def key_of(event: Any, _k: str = key) -> Any:
                return event[_k]

            self.key_of = key_of
        if callable(into):
            self.merge: Callable[[Any, Any], Any] = into
        else:

            def merge(event: Any, value: Any, _f: str = into) -> Any:
                target: MutableMapping[str, Any] = event
                target[_f] = value
                return event

            self.merge = merge
        self.on_absent = on_absent
        self.on_error = on_error
        self.default = default


def enrich_by_key(
    lookup: KeyLookup,
    *,
    key: str | Callable[[Any], Any],
    into: str | Callable[[Any, Any], Any],
    on_absent: Literal["keep", "drop"] = "keep",
    on_error: OnError = "fail",
    default: Any = None,
    id: str | None = None,
) -> tuple[Processor, Processor, Processor]:
    """The steps that enrich each event with ``lookup``'s value for its key: splice them into a
    pipeline (``pipeline.build(source, *enrich_by_key(...), sink)``).

    Three steps, so that the cache is only touched on the pipeline's thread and only the fetch
    leaves it: ``<id>.probe`` answers from the cache (inline), ``<id>.fetch`` asks the store for
    a missing key (offloaded: a worker thread, or awaited for an ``AsyncKeyFetcher``; a cached
    event passes through it untouched), ``<id>.apply`` caches the answer and enriches the event
    (inline, in the events' order). Two events missing the same key at once both fetch it.
    Between ``probe`` and ``apply`` the event travels wrapped with its answer (not in its
    context, which a generator may share between events), so the three must stay adjacent; a
    ``KeyLookupError`` carries the event itself as ``.event``.

    Args:
        lookup: the lookup to ask.
        key: the event's field holding the key, or ``key(event) -> key``.
        into: the field to set to the value, or ``into(event, value) -> event``.
        on_absent: the store has no such key: ``"keep"`` passes the event on unenriched,
            ``"drop"`` drops it (counted as ``event.drop``).
        on_error: the fetch raised (always counted in the lookup's ``errors``): ``"fail"``
            fails the event through the pipeline's error policy (a ``KeyLookupError``),
            ``"drop"`` drops it, ``"default"`` enriches it with ``default``.
        default: the value ``on_error="default"`` enriches with.
        id: the steps' id prefix; the lookup's id by default.

    Raises:
        ConfigError: an unknown ``on_absent`` or ``on_error``.
    """
    if on_absent not in ("keep", "drop"):
        raise ConfigError(f"enrich_by_key: on_absent must be 'keep' or 'drop', got {on_absent!r}")
    if on_error not in ("fail", "drop", "default"):
        raise ConfigError(
            f"enrich_by_key: on_error must be 'fail', 'drop' or 'default', got {on_error!r}"
        )
    prefix = lookup.Id if id is None else id
    enricher = _Enricher(lookup, key, into, on_absent, on_error, default)
    fetch: Processor = (
        _AsyncFetch(enricher, f"{prefix}.fetch")
        if lookup.is_async
        else _Fetch(enricher, f"{prefix}.fetch")
    )
    return (_Probe(enricher, f"{prefix}.probe"), fetch, _Apply(enricher, f"{prefix}.apply"))
