"""RunOnceTrigger: fires once, at start, and is finished after that."""

from __future__ import annotations

from ._base import Trigger


class RunOnceTrigger(Trigger):
    """Fire once when the executor starts, then never again.

    Args:
        id: the trigger's id (BSPump-compatible keyword); defaults to the class name.

    Example:
        >>> trigger = RunOnceTrigger()
        >>> trigger.start(10.0)
        >>> trigger.next_fire_at(), trigger.finished()
        (10.0, False)
        >>> trigger.fire(10.0)
        >>> trigger.next_fire_at(), trigger.finished()
        (None, True)
    """

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self._fired = False

    def start(self, now: float) -> None:
        """The single firing is due at ``now``. Restarting arms it again."""
        super().start(now)
        self._fired = False

    def next_fire_at(self) -> float | None:
        """The start time until the trigger has fired, then None."""
        if self._fired:
            return None
        return self._started_at

    def fire(self, now: float) -> None:
        """Mark the single firing as done.

        Raises:
            RuntimeError: the trigger was not started.
        """
        if self._started_at is None:
            raise RuntimeError(f"{self!r} fired before start()")
        self._fired = True

    def finished(self) -> bool:
        """True once the trigger has fired."""
        return self._fired
