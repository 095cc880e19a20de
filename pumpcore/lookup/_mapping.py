"""Lookups: key → value tables processors consult, filled by providers (BSPump's MappingLookup).

Rules:
1. The table is replaced whole (``set``), never edited in place by a load, so a processor reading
   it always sees one consistent version.
2. A provider does the I/O (a file, an HTTP endpoint, a database); the lookup only holds data.
   ``load()`` asks the provider and keeps the answer; ``None`` from a provider means unchanged
   (an HTTP 304), so nothing is replaced.
3. ``refresh`` is a trigger that says when an executor calls ``load()`` again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

import orjson

from .._config import Configurable
from ..trigger._base import Trigger


@runtime_checkable
class LookupProvider(Protocol):
    """Where a lookup's data comes from. ``load`` may block; executors call it off the loop."""

    def load(self) -> Mapping[Any, Any] | None:
        """The whole table, or None when it has not changed since the previous load."""
        ...


class Lookup(Configurable):
    """Base of lookups: an id, a config, a version that grows with each new table.

    Args:
        id: the lookup id (BSPump's ``[lookup:ID]`` config section).
        config: keys overriding ``ConfigDefaults``.
        provider: what ``load`` asks for data; None for a lookup filled with ``set``.
        lazy: BSPump's flag: when True the executor does not load it at start.
        refresh: a trigger after which the executor loads it again.
    """

    def __init__(
        self,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        provider: LookupProvider | None = None,
        lazy: bool = False,
        refresh: Trigger | None = None,
    ) -> None:
        super().__init__(id=id, config=config)
        self.provider = provider
        self.lazy = lazy
        self.refresh = refresh
        self.version = 0
        self._listeners: list[Callable[[Lookup], None]] = []

    def load(self) -> bool:
        """Ask the provider for data; return True when the table changed."""
        if self.provider is None:
            return False
        data = self.provider.load()
        if data is None:
            return False
        self._replace(data)
        return True

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
