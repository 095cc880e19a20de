"""OpportunisticTrigger: fires again a chilldown period after the previous cycles finished.

Rules:
1. It fires at start (or ``chilldown_period`` after it with ``run_immediately=False``).
2. After a firing nothing is scheduled until ``cycle_done(now)``; then the next firing is due at
   ``now + chilldown_period``. So cycles never overlap, however long they take.
3. ``cycle_done`` without a firing waiting for it is ignored: one firing schedules one successor.
"""

from __future__ import annotations

import math

from .._errors import ConfigError
from ._base import Trigger


class OpportunisticTrigger(Trigger):
    """Fire as often as the cycles allow, resting ``chilldown_period`` seconds between them.

    Args:
        chilldown_period: seconds between the end of a firing's cycles and the next firing;
            a finite number >= 0.
        id: the trigger's id (BSPump-compatible keyword); defaults to the class name.
        run_immediately: fire at start (BSPump's default); False waits ``chilldown_period`` first.

    Raises:
        ConfigError: ``chilldown_period`` is negative or not a finite number.

    Example:
        >>> trigger = OpportunisticTrigger(chilldown_period=5)
        >>> trigger.start(0.0)
        >>> trigger.next_fire_at()
        0.0
        >>> trigger.fire(0.0)
        >>> trigger.next_fire_at() is None  # waiting for the cycles to finish
        True
        >>> trigger.cycle_done(42.0)
        >>> trigger.next_fire_at()
        47.0
    """

    def __init__(
        self,
        chilldown_period: float = 5,
        id: str | None = None,
        *,
        run_immediately: bool = True,
    ) -> None:
        super().__init__(id=id)
        if (
            isinstance(chilldown_period, bool)
            or not isinstance(chilldown_period, int | float)
            or not math.isfinite(chilldown_period)
            or chilldown_period < 0
        ):
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: chilldown_period must be a finite number "
                f"of seconds >= 0, got {chilldown_period!r}"
            )
        self.chilldown_period = float(chilldown_period)
        self.run_immediately = run_immediately
        self._next: float | None = None
        self._waiting = False  # fired, cycles not done yet

    def start(self, now: float) -> None:
        """Schedule the first firing. Restarting resets the schedule."""
        super().start(now)
        self._waiting = False
        self._next = now if self.run_immediately else now + self.chilldown_period

    def next_fire_at(self) -> float | None:
        """The next firing; None before start and while a firing's cycles are running."""
        return self._next

    def fire(self, now: float) -> None:
        """Stop scheduling until ``cycle_done``.

        Raises:
            RuntimeError: the trigger was not started.
        """
        if self._started_at is None:
            raise RuntimeError(f"{self!r} fired before start()")
        self._next = None
        self._waiting = True

    def cycle_done(self, now: float) -> None:
        """Schedule the next firing ``chilldown_period`` after ``now``."""
        if not self._waiting:
            return
        self._waiting = False
        self._next = now + self.chilldown_period
