"""A virtual clock: time moves only when someone waits, so schedules run instantly in tests."""

from __future__ import annotations


class VirtualClock:
    """A ``pumpcore.Clock`` whose ``sleep_until`` jumps to the deadline at once.

    Example:
        >>> clock = VirtualClock(start=100.0)
        >>> clock.sleep_until(160.0)
        >>> clock.time()
        160.0
    """

    is_virtual = True

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def time(self) -> float:
        """The virtual now."""
        return self._now

    def sleep_until(self, deadline: float) -> None:
        """Jump to ``deadline`` (never backwards)."""
        if deadline > self._now:
            self._now = float(deadline)

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds``; returns the new now."""
        if seconds < 0:
            raise ValueError(f"VirtualClock.advance: seconds must be >= 0, got {seconds!r}")
        self._now += seconds
        return self._now
