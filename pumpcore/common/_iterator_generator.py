"""IteratorGenerator: an iterable event becomes one event per element (BSPump's)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._component import Context, Generator


class IteratorGenerator(Generator):
    """Emits each element of an iterable event as its own event, sharing the event's context.

    A batch read from a file or an API (a list of records) is split here so that the following
    steps see one record at a time. A ``str`` is iterable too and would be split into
    characters, as in BSPump.

    Example:
        >>> list(IteratorGenerator().generate({}, [1, 2, 3]))
        [1, 2, 3]
    """

    def generate(self, context: Context, event: Any) -> Iterable[Any]:
        """Return the event's elements in iteration order.

        Raises:
            TypeError: the event is not iterable.
        """
        # Materialised here so that an iterator that raises half-way fails inside this
        # component (and is attributed to it) before any of its elements moved on.
        return list(event)
