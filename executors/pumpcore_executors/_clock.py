"""The real clock: wall time for schedules (cron needs it), blocking sleeps for the sync loop."""

from __future__ import annotations

import time


class SystemClock:
    """``pumpcore.Clock`` on the system's wall clock."""

    is_virtual = False

    def time(self) -> float:
        """Seconds since the Unix epoch."""
        return time.time()

    def sleep_until(self, deadline: float) -> None:
        """Sleep until the wall clock reaches ``deadline``."""
        delay = deadline - time.time()
        if delay > 0:
            time.sleep(delay)
