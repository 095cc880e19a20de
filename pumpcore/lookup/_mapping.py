"""Lookups: key → value tables processors consult, filled by providers (BSPump's MappingLookup).

Rules:
1. The table is replaced whole (``set``), never edited in place by a load, so a processor reading
   it always sees one consistent version.
2. A provider does the I/O (a file, an HTTP endpoint, a database); the lookup only holds data.
   An executor calls the provider's ``load()`` where blocking is allowed (or awaits an
   ``AsyncLookupProvider``'s) and hands the answer to ``loaded(data)`` on the thread that runs
   the pipelines, so no table is ever swapped under a processor from another thread. ``None``
   from a provider means unchanged (an HTTP 304): nothing is replaced. ``load()`` does both at
   once, for a lookup used without an executor.
3. Every executor loads each registered lookup that has a provider and is not ``lazy`` at start,
   before the first event (the run machine's ``Load``), and again each time its ``refresh``
   trigger fires; the ``refresh_period`` config key (seconds, 0 = never) makes that trigger.
4. A load that fails leaves the table as it was and is counted (``statistics().failed``). At
   start it ends the run (``LookupLoadError``) unless the lookup is ``optional``: a processor
   would otherwise enrich every event with an empty table and nobody would notice.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Protocol, cast, runtime_checkable

import attrs
import orjson

from .._config import Configurable, current_settings
from .._errors import ConfigError
from ..trigger._base import Trigger
from ..trigger._periodic import PeriodicTrigger


@runtime_checkable
class LookupProvider(Protocol):
    """Where a lookup's data comes from. ``load`` may block; executors call it off the loop."""

    def load(self) -> Mapping[Any, Any] | None:
        """The whole table, or None when it has not changed since the previous load."""
        ...


class AsyncLookupProvider(Protocol):
    """A provider written on anyio: executors await its ``load`` (on the bridge's loop under the
    sync and threads executors)."""

    async def load(self) -> Mapping[Any, Any] | None:
        """The whole table, or None when it has not changed since the previous load."""
        ...


def is_async_provider(provider: LookupProvider | AsyncLookupProvider | None) -> bool:
    """True when ``provider.load`` is an ``async def`` (it must be awaited, not called)."""
    return provider is not None and inspect.iscoroutinefunction(provider.load)


@attrs.frozen
class LookupStatistics:
    """A lookup's counters (``Lookup.statistics()``).

    Attributes:
        version: how many times the table was replaced (``Lookup.version``).
        loaded: loads that replaced the table.
        unchanged: loads whose provider said nothing changed (None).
        failed: loads that raised; the table was kept each time.
    """

    version: int
    loaded: int
    unchanged: int
    failed: int


class Lookup(Configurable):
    """Base of lookups: an id, a config, a version that grows with each new table.

    Its config is BSPump's ``[lookup:ID]`` section of the settings in force when it is made
    (``use_settings``), then ``config=``.

    Config:
        refresh_period: seconds between loads after the first (a ``PeriodicTrigger`` as
            ``refresh``); 0 means never.
        optional: when True a failed load at start is counted and logged instead of ending the
            run; processors then see an empty table until a refresh succeeds.

    Args:
        id: the lookup id.
        config: keys overriding ``ConfigDefaults`` and the config section.
        provider: where executors load data from; None for a lookup filled with ``set``.
        lazy: BSPump's flag: when True no executor loads it at start (only ``refresh`` does).
        refresh: a trigger after whose firings executors load it again (a ``PubSubTrigger`` to
            refresh on demand); not together with ``refresh_period``. It must not be shared
            with a source or another lookup.

    Raises:
        ConfigError: ``refresh_period`` is negative or not finite, or given with ``refresh``.
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"refresh_period": 0.0, "optional": False}

    def __init__(
        self,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        provider: LookupProvider | AsyncLookupProvider | None = None,
        lazy: bool = False,
        refresh: Trigger | None = None,
    ) -> None:
        self.provider = provider
        self.lazy = lazy
        self.refresh = refresh
        self.optional = False
        self.version = 0
        self._refresh_given = refresh
        self._listeners: list[Callable[[Lookup], None]] = []
        self._loaded = self._unchanged = self._failed = 0
        super().__init__(id=id, config=config)
        section = current_settings().section(f"lookup:{self.Id}")
        if section:
            self.reconfigure(section)

    def apply_config(self) -> None:
        """Derive ``refresh`` and ``optional`` from the config."""
        period = self.Config["refresh_period"]
        if not (period >= 0 and math.isfinite(period)):
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: config key 'refresh_period' must be a "
                f"finite number of seconds >= 0 (0: never), got {period!r}"
            )
        if period and self._refresh_given is not None:
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: give refresh= or the config key "
                "'refresh_period', not both"
            )
        self.refresh = (
            PeriodicTrigger(period, id=f"{self.Id}.refresh") if period else self._refresh_given
        )
        self.optional = self.Config["optional"]

    def load(self) -> bool:
        """Ask the provider for data now, in this thread; return True when the table changed.

        For a lookup used without an executor, or a ``lazy`` one loaded when the application
        decides. Under an executor, loads are its job (module rule 3).

        Raises:
            TypeError: the provider is async (executors await it; without one, await
                ``provider.load()`` and pass the result to ``loaded``).
            Exception: what the provider raised (counted as ``failed``; the table is kept).
        """
        if self.provider is None:
            return False
        if is_async_provider(self.provider):
            raise TypeError(
                f"{type(self).__name__} {self.Id!r}: its provider's load() is async; await it "
                "and pass the result to loaded(), or let an executor load the lookup"
            )
        try:
            data = cast(LookupProvider, self.provider).load()
        except Exception:
            self.load_failed()
            raise
        return self.loaded(data)

    def loaded(self, data: Mapping[Any, Any] | None) -> bool:
        """Take what the provider's ``load`` returned: replace the table, or keep it for None.

        Call it on the thread that runs the pipelines (module rule 2). Returns True when the
        table changed.
        """
        if data is None:
            self._unchanged += 1
            return False
        self._replace(data)
        self._loaded += 1
        return True

    def load_failed(self) -> None:
        """A load raised: the table stays as it was; the failure is counted."""
        self._failed += 1

    def statistics(self) -> LookupStatistics:
        """The lookup's counters now."""
        return LookupStatistics(self.version, self._loaded, self._unchanged, self._failed)

    def _replace(self, data: Mapping[Any, Any]) -> None:
        raise NotImplementedError

    def _changed(self) -> None:
        self.version += 1
        for listener in list(self._listeners):
            listener(self)

    def add_update_listener(self, listener: Callable[[Lookup], None]) -> None:
        """Call ``listener(lookup)`` after each new table (BSPump's ``Lookup.changed!``)."""
        self._listeners.append(listener)


class MappingLookup(Lookup, Mapping[Any, Any]):
    """A lookup that is a read-only mapping.

    Example:
        >>> countries = MappingLookup("Countries")
        >>> countries.set({"cz": "Czechia"})
        >>> countries["cz"], countries.get("xx", "?"), countries.version
        ('Czechia', '?', 1)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._data: Mapping[Any, Any] = {}

    def set(self, data: Mapping[Any, Any]) -> None:
        """Replace the whole table (a copy is kept, so the caller may go on changing its dict)."""
        self._replace(data)

    def _replace(self, data: Mapping[Any, Any]) -> None:
        self._data = dict(data)
        self._changed()

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def serialize(self) -> bytes:
        """The table as JSON bytes (string keys), for sharing it with another process."""
        return orjson.dumps(self._data, option=orjson.OPT_NON_STR_KEYS)

    def deserialize(self, data: bytes) -> None:
        """Replace the table with one produced by ``serialize``."""
        loaded = orjson.loads(data)
        if not isinstance(loaded, dict):
            raise ValueError(f"MappingLookup {self.Id!r}: serialized data is not an object")
        self._replace(loaded)


DictionaryLookup = MappingLookup
"""BSPump's ``DictionaryLookup``: the same class as ``MappingLookup``, under BSPump's name.

BSPump's ``DictionaryLookup`` is the ``MappingLookup`` that keeps its table in a dict, with
``set``, ``serialize`` and ``deserialize``: exactly what ``MappingLookup`` is here, so it is an
alias, not a second implementation (``DictionaryLookup is MappingLookup``).

Example:
    >>> users = DictionaryLookup("Users")
    >>> users.set({"u1": "Alice"})
    >>> users["u1"], isinstance(users, MappingLookup)
    ('Alice', True)
"""
