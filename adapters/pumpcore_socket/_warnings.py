"""A server's own warnings (a failed TLS handshake, accept or receive, a connection that broke
oddly), rate-limited the way the executors' failure log is (``pumpcore.lowlevel.RateLimit``): at
most ``lines_per_interval`` lines per kind in ``interval`` seconds, the rest summed up in one
line, "N more <kind> in the last T s", when the next one comes after the interval and at close.
A port scanner or a flood of bad clients is counted in the source's statistics, and cannot
flood the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from pumpcore.lowlevel import RateLimit, Window


class Warnings:
    """Rate-limited warnings of one component (see the module docstring).

    Example:
        >>> import logging
        >>> warnings = Warnings(logging.getLogger("demo"), lambda: "Source", lines_per_interval=1)
        >>> warnings.warn("accept failed", "%r", OSError(24))  # logged
        >>> warnings.warn("accept failed", "%r", OSError(24))  # counted
        >>> warnings.close()  # "Source: 1 more accept failed in the last 0.0 s"
    """

    def __init__(
        self,
        logger: logging.Logger,
        where: Callable[[], str],
        *,
        lines_per_interval: int = 10,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._where = where
        self._limit = RateLimit(lines_per_interval, interval)
        self._clock = clock

    def warn(
        self,
        kind: str,
        message: str,
        *args: Any,
        level: int = logging.WARNING,
        exc_info: BaseException | None = None,
    ) -> None:
        """Log ``"<where>: <kind>: <message % args>"`` unless ``kind`` had its lines already."""
        now = self._clock()
        admitted, window, ended = self._limit.admit(kind, now)
        if ended is not None:
            self._summarize(kind, ended, now)
        if not admitted:
            return
        more = ""
        if window.admitted == self._limit.lines_per_interval:
            more = f" (more in the next {self._limit.interval:g} s are summed up)"
        self._log.log(
            level, "%s: %s: " + message + "%s", self._where(), kind, *args, more, exc_info=exc_info
        )

    def close(self) -> None:
        """Sum up what was only counted."""
        now = self._clock()
        for kind, window in self._limit.windows.items():
            self._summarize(str(kind), window, now)
        self._limit.windows.clear()

    def _summarize(self, kind: Any, window: Window, now: float) -> None:
        if window.suppressed:
            self._log.warning(
                "%s: %d more %s in the last %.1f s (counted in its statistics)",
                self._where(), window.suppressed, kind, now - window.start,
            )  # fmt: skip
