"""PeriodicTrigger: fires at start, then on a fixed grid ``start + k * interval``.

Rules:
1. The grid is anchored at ``start``; the k-th firing is computed as ``start + k * interval`` from
   an integer index, never by adding ``interval`` to the previous firing, so it cannot drift.
2. A late ``fire(now)`` (``now`` past several grid points) fires once: the next firing is the first
   grid point strictly after ``now`` and the points jumped over are counted in ``missed``.
3. An early ``fire(now)`` (before the due grid point) consumes that point; the next is the one
   after it, so the executor never sees the same point twice.
"""

from __future__ import annotations

import math

from .._errors import ConfigError
from ._base import Trigger


class PeriodicTrigger(Trigger):
    """Fire every ``interval`` seconds, the first time at start.

    Args:
        interval: seconds between firings; a positive, finite number.
        id: the trigger's id (BSPump-compatible keyword); defaults to the class name.

    Raises:
        ConfigError: ``interval`` is not a positive, finite number.

    Example:
        >>> trigger = PeriodicTrigger(5)
        >>> trigger.start(100.0)
        >>> trigger.next_fire_at()
        100.0
        >>> trigger.fire(100.0)
        >>> trigger.next_fire_at()
        105.0
        >>> trigger.fire(117.0)  # late: 105, 110 and 115 are due, it fires once
        >>> trigger.next_fire_at(), trigger.missed
        (120.0, 2)
    """

    def __init__(self, interval: float, id: str | None = None) -> None:
        super().__init__(id=id)
        if (
            isinstance(interval, bool)
            or not isinstance(interval, int | float)
            or not math.isfinite(interval)
            or interval <= 0
        ):
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: interval must be a positive, finite number "
                f"of seconds, got {interval!r}"
            )
        self.interval = float(interval)
        #: Grid points skipped because the executor fired late.
        self.missed = 0
        self._index = 0  # index k of the next grid point start + k * interval

    def start(self, now: float) -> None:
        """Start the grid at ``now``; the first firing is due at once. Restarting resets it."""
        super().start(now)
        self._index = 0
        self.missed = 0

    def _grid(self, index: int) -> float:
        assert self._started_at is not None
        return self._started_at + index * self.interval

    def next_fire_at(self) -> float | None:
        """The next grid point; None before ``start``."""
        if self._started_at is None:
            return None
        return self._grid(self._index)

    def fire(self, now: float) -> None:
        """Consume the due grid point and schedule the first one strictly after ``now``.

        Raises:
            RuntimeError: the trigger was not started.
        """
        if self._started_at is None:
            raise RuntimeError(f"{self!r} fired before start()")
        due = self._index
        # Division gives the right index up to float rounding; the loops below settle the last ulp
        # so that the result is exactly "first grid point > now", as computed by _grid.
        index = max(due + 1, math.floor((now - self._started_at) / self.interval) + 1)
        while index > due + 1 and self._grid(index - 1) > now:
            index -= 1
        while self._grid(index) <= now:
            index += 1
        self.missed += index - due - 1
        self._index = index
