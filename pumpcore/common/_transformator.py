"""MappingTransformator: rename, convert or delete the keys of a dict event, key by key."""

from __future__ import annotations

import collections.abc
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._component import Context, Processor

if TYPE_CHECKING:
    from .._pipeline import Pipeline

Transformation = Callable[[Any, Any], "tuple[Any, Any] | None"]
"""``(key, value) -> (new_key, new_value)``, or None to delete the key from the event."""


class MappingTransformator(Processor):
    """Applies a per-key transformation table to each mapping event (BSPump's).

    The table is a dict from a key to a function ``(key, value) -> (new_key, new_value)``; a
    function returning None deletes the key (a pumpcore addition: BSPump fails on None). Keys the
    table does not name are passed to ``Default`` when it is set, otherwise kept as they are.
    The result is a new dict in the event's key order; when two keys end up with the same new
    key, the later one wins.

    Subclass it and override ``build`` as in BSPump, or pass ``mapping=`` (and ``default=``).

    Example:
        >>> class Rename(MappingTransformator):
        ...     def build(self):
        ...         return {"ts": lambda key, value: ("@timestamp", value),
        ...                 "secret": lambda key, value: None}
        >>> Rename().process({}, {"ts": 1, "secret": "x", "n": 2})
        {'@timestamp': 1, 'n': 2}
    """

    # BSPump's attribute name; the ABC is spelled collections.abc.Mapping to avoid the clash.
    Mapping: collections.abc.Mapping[Any, Transformation]
    Default: Transformation | None

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: collections.abc.Mapping[str, Any] | None = None,
        *,
        mapping: collections.abc.Mapping[Any, Transformation] | None = None,
        default: Transformation | None = None,
    ) -> None:
        super().__init__(pipeline, id, config)
        self.Mapping = dict(self.build() if mapping is None else mapping)
        self.Default = default

    def build(self) -> collections.abc.Mapping[Any, Transformation]:
        """Return the transformation table; called once, by the constructor.

        Raises:
            NotImplementedError: neither overridden nor replaced by ``mapping=``.
        """
        raise NotImplementedError(
            f"{type(self).__name__}: override build() or pass mapping= to the constructor"
        )

    def transform(self, key: Any, value: Any) -> tuple[Any, Any] | None:
        """Return the new ``(key, value)`` for one item, or None to delete it."""
        function = self.Mapping.get(key)
        if function is not None:
            return function(key, value)
        if self.Default is not None:
            return self.Default(key, value)
        return key, value

    def process(self, context: Context, event: Any) -> dict[Any, Any]:
        """Return a new dict with every item of the event transformed.

        Raises:
            TypeError: the event is not a mapping.
        """
        if not isinstance(event, collections.abc.Mapping):
            raise TypeError(f"{self.Id}: expected a mapping, got {type(event).__name__}")
        out: dict[Any, Any] = {}
        for key, value in event.items():
            item = self.transform(key, value)
            if item is not None:
                new_key, new_value = item
                out[new_key] = new_value
        return out
