"""TriggerSource: a source whose ``cycle()`` runs each time one of its triggers fires.

The trigger is a pure schedule (``pumpcore.trigger``); the executor owns the timers, asks each
trigger when it next fires, waits, then calls ``fire(now)`` and runs the source's ``cycle``.
"""

from __future__ import annotations

from typing import Any

from ._component import Source
from .trigger._base import Trigger


class TriggerSource(Source):
    """A cyclic source (HTTP polls, SQL extracts, file scans). Override ``cycle``.

    ``cycle`` may be a plain method (blocking calls are fine: async executors run it in a worker
    thread) or an ``async def`` (run on the executor's loop). Inside it, ``self.process(event)``
    sends an event through the pipeline; ``self.process_many(events)`` sends a chunk of them
    with one trip to the executor's thread (what a cycle reading rows in chunks should use).

    Example:
        >>> from pumpcore.trigger import PeriodicTrigger
        >>> class Ticks(TriggerSource):
        ...     def cycle(self):
        ...         self.process("tick")
        >>> source = Ticks().on(PeriodicTrigger(5))
        >>> [type(t).__name__ for t in source.triggers]
        ['PeriodicTrigger']
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.triggers: list[Trigger] = []

    def on(self, trigger: Trigger) -> TriggerSource:
        """Run ``cycle`` whenever ``trigger`` fires; returns self so it chains inside ``build``."""
        self.triggers.append(trigger)
        return self

    def cycle(self, *args: Any) -> Any:
        """Produce this cycle's events with ``self.process``. Subclasses must override it."""
        raise NotImplementedError(f"{type(self).__name__}.cycle() is not implemented")
