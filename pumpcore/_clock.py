"""The clock contract between executors and whoever owns time.

The core never reads a clock: executors do, through an object of this shape, so a test can hand
them a ``pumpcore.testing.VirtualClock`` and run an hour of schedule in a millisecond.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Time in seconds since the Unix epoch, and a way to wait for a moment."""

    @property
    def is_virtual(self) -> bool:
        """True when ``sleep_until`` jumps instead of waiting (async executors then only yield)."""
        ...

    def time(self) -> float:
        """The current time."""
        ...

    def sleep_until(self, deadline: float) -> None:
        """Return once ``time() >= deadline`` (a virtual clock jumps there)."""
        ...
