"""The trigger contract: a pure schedule that says when it next fires.

Rules:
1. ``start(now)`` is called once by the executor; before it nothing fires.
2. ``next_fire_at()`` is the earliest time the trigger wants to fire, or None while it has
   nothing scheduled (a pub/sub trigger waiting for a message, a run-once trigger that ran).
3. When the executor reaches that time it calls ``fire(now)`` and runs the cycles of the
   sources bound to the trigger; when all those cycles are over it calls ``cycle_done(now)``.
4. ``finished()`` is True when the trigger will never fire again.
"""

from __future__ import annotations


class Trigger:
    """Base class of every trigger. Subclasses override ``next_fire_at`` and ``fire``."""

    def __init__(self, id: str | None = None) -> None:
        self.Id = id if id is not None else type(self).__name__
        self._started_at: float | None = None

    def start(self, now: float) -> None:
        """The executor starts the schedule at ``now``."""
        self._started_at = now

    @property
    def started(self) -> bool:
        """True after ``start``."""
        return self._started_at is not None

    def next_fire_at(self) -> float | None:
        """When the trigger next wants to fire; None when nothing is scheduled."""
        return None

    def fire(self, now: float) -> None:
        """The executor fires the trigger at ``now``; schedule the next firing."""

    def cycle_done(self, now: float) -> None:
        """The cycles this firing started are finished at ``now``."""

    def finished(self) -> bool:
        """True when the trigger will never fire again."""
        return False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.Id!r}>"
