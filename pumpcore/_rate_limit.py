"""Rate-limited reporting, without I/O: which of a stream of reports of one kind to tell a human,
and how many were only counted.

At most ``lines_per_interval`` reports per key are admitted in any ``interval`` seconds of the
caller's clock (time is an argument); the rest are counted in the key's window. When a report
comes after the window's interval, the window ends and is handed back, so the caller can sum it
up in one line ("N more ... in the last T s"); ``windows`` gives those still open at the end.
The executors' failure log uses it, and so do the server adapters for their own warnings (a
flood of bad clients must not flood the log).
"""

from __future__ import annotations

from collections.abc import Hashable

import attrs


@attrs.define
class Window:
    """One key's current interval: reports admitted, and those only counted."""

    start: float
    admitted: int = 0
    suppressed: int = 0
    suppressed_hard: int = 0


class RateLimit:
    """Admits at most ``lines_per_interval`` reports per key in each ``interval`` seconds.

    Example:
        >>> limit = RateLimit(lines_per_interval=1, interval=10.0)
        >>> [limit.admit("k", now)[0] for now in (0.0, 1.0, 2.0)]
        [True, False, False]
        >>> admitted, window, ended = limit.admit("k", 11.0)
        >>> admitted, ended.suppressed
        (True, 2)
    """

    def __init__(self, lines_per_interval: int, interval: float) -> None:
        self.lines_per_interval = lines_per_interval
        self.interval = interval
        self.windows: dict[Hashable, Window] = {}

    def admit(
        self, key: Hashable, now: float, hard: bool = False
    ) -> tuple[bool, Window, Window | None]:
        """Count one report of ``key``; return whether to tell it, its window (``admitted``
        says how many were told in it), and the window that just ended, if one did."""
        window = self.windows.get(key)
        ended = None
        if window is None or now - window.start >= self.interval:
            ended = window
            window = self.windows[key] = Window(now)
        if window.admitted >= self.lines_per_interval:
            window.suppressed += 1
            window.suppressed_hard += hard
            return False, window, ended
        window.admitted += 1
        return True, window, ended
