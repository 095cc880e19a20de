"""Mapping events taken apart: keys, values or items, as one list or as one event each
(BSPump's ``Mapping*Processor`` and ``Mapping*Generator``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .._component import Context, Generator, Processor


def _require_mapping(component: Processor, event: Any) -> Mapping[Any, Any]:
    """The event as a Mapping, or a TypeError that names the component."""
    if not isinstance(event, Mapping):
        raise TypeError(f"{component.Id}: expected a mapping, got {type(event).__name__}")
    return event


class MappingKeysProcessor(Processor):
    """Replaces a mapping event with the list of its keys.

    Example:
        >>> MappingKeysProcessor().process({}, {"foo": "bar"})
        ['foo']
    """

    def process(self, context: Context, event: Any) -> list[Any]:
        """Return the keys in the mapping's order. Raises TypeError for a non-mapping."""
        return list(_require_mapping(self, event).keys())


class MappingValuesProcessor(Processor):
    """Replaces a mapping event with the list of its values.

    Example:
        >>> MappingValuesProcessor().process({}, {"foo": "bar"})
        ['bar']
    """

    def process(self, context: Context, event: Any) -> list[Any]:
        """Return the values in the mapping's order. Raises TypeError for a non-mapping."""
        return list(_require_mapping(self, event).values())


class MappingItemsProcessor(Processor):
    """Replaces a mapping event with the list of its ``(key, value)`` pairs.

    Example:
        >>> MappingItemsProcessor().process({}, {"foo": "bar"})
        [('foo', 'bar')]
    """

    def process(self, context: Context, event: Any) -> list[tuple[Any, Any]]:
        """Return the items in the mapping's order. Raises TypeError for a non-mapping."""
        return list(_require_mapping(self, event).items())


class MappingKeysGenerator(Generator):
    """Emits each key of a mapping event as an event of its own (same context for each).

    Example:
        >>> list(MappingKeysGenerator().generate({}, {"a": 1, "b": 2}))
        ['a', 'b']
    """

    def generate(self, context: Context, event: Any) -> Iterable[Any]:
        """Return the keys in the mapping's order. Raises TypeError for a non-mapping."""
        return list(_require_mapping(self, event).keys())


class MappingValuesGenerator(Generator):
    """Emits each value of a mapping event as an event of its own (same context for each).

    Example:
        >>> list(MappingValuesGenerator().generate({}, {"a": 1, "b": 2}))
        [1, 2]
    """

    def generate(self, context: Context, event: Any) -> Iterable[Any]:
        """Return the values in the mapping's order. Raises TypeError for a non-mapping."""
        return list(_require_mapping(self, event).values())


class MappingItemsGenerator(Generator):
    """Emits each ``(key, value)`` pair of a mapping event as an event of its own.

    Example:
        >>> list(MappingItemsGenerator().generate({}, {"a": 1}))
        [('a', 1)]
    """

    def generate(self, context: Context, event: Any) -> Iterable[Any]:
        """Return the items in the mapping's order. Raises TypeError for a non-mapping."""
        return list(_require_mapping(self, event).items())
