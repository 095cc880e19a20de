"""FlattenDictProcessor: nested dicts become one level of dotted keys (BSPump's)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from .._component import Context, Processor


class FlattenDictProcessor(Processor):
    """Flattens nested mappings into one dict whose keys join the path with a separator.

    Column stores, CSV writers and search indexes want flat records; this is the step that gives
    them one. A nested key becomes ``f"{outer}{separator}{inner}"``; a top-level key is kept as it
    is. Values that are not mappings (lists included) are leaves and kept as they are; an empty
    mapping is a leaf too, so ``{"a": {}}`` stays ``{"a": {}}`` and nothing disappears.

    Two paths may collapse into one key (``{"a.b": 1, "a": {"b": 2}}``); the later one wins, as
    in BSPump. Unlike BSPump, an empty event gives ``{}`` (BSPump gives ``{None: {}}``).

    Config:
        separator: what joins the parts of a path (default ``.``).

    Example:
        >>> FlattenDictProcessor().process({}, {"person": {"details": {"first_name": "John"}}})
        {'person.details.first_name': 'John'}
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"separator": "."}

    @property
    def Separator(self) -> str:
        """The configured separator."""
        return str(self.Config["separator"])

    def flatten(self, nested: Mapping[Any, Any]) -> dict[Any, Any]:
        """Return the flat dict for ``nested`` (which is not modified).

        Raises:
            TypeError: ``nested`` is not a mapping.
        """
        if not isinstance(nested, Mapping):
            raise TypeError(f"{self.Id}: expected a mapping, got {type(nested).__name__}")
        separator = self.Separator
        flat: dict[Any, Any] = {}
        # An explicit stack instead of recursion: a deeply nested event must not hit the
        # interpreter's recursion limit. Reversed pushes keep the output in the input's order.
        stack: list[tuple[Any, Any]] = list(reversed(list(nested.items())))
        while stack:
            key, value = stack.pop()
            if isinstance(value, Mapping) and value:
                stack.extend(
                    (f"{key}{separator}{inner}", item)
                    for inner, item in reversed(list(value.items()))
                )
            else:
                flat[key] = value
        return flat

    def process(self, context: Context, event: Any) -> dict[Any, Any]:
        """Return the flattened event.

        Raises:
            TypeError: the event is not a mapping.
        """
        return self.flatten(event)
