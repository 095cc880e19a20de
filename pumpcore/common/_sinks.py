"""Sinks that need no I/O: NullSink throws events away (counted as out), ListSink keeps them."""

from __future__ import annotations

from typing import Any

from .._component import Context, Sink


class NullSink(Sink):
    """Takes every event and keeps nothing (BSPump's NullSink)."""

    def process(self, context: Context, event: Any) -> None:
        """Discard the event."""


class ListSink(Sink):
    """Keeps every event that reaches it, in order, in ``Events`` (and contexts in ``Contexts``).

    Example:
        >>> sink = ListSink()
        >>> sink.process({}, "a")
        >>> sink.Events
        ['a']
    """

    def __init__(self, *args: Any, keep_contexts: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.Events: list[Any] = []
        self.Contexts: list[Context] = []
        self._keep_contexts = keep_contexts

    def process(self, context: Context, event: Any) -> None:
        """Append the event (and, if asked, its context)."""
        self.Events.append(event)
        if self._keep_contexts:
            self.Contexts.append(context)

    def clear(self) -> None:
        """Forget what was kept."""
        self.Events.clear()
        self.Contexts.clear()
