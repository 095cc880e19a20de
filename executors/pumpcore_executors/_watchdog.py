"""A watchdog that catches blocking calls on an event loop's thread, under asyncio and trio alike.

A heartbeat task on the loop records the time every ``interval``; a daemon thread checks that the
heartbeat is never older than ``threshold``. A loop that stalls longer (a blocking ``time.sleep``,
a blocking client call, a long CPU loop without a checkpoint) is recorded together with what the
loop thread was running, and ``check()`` raises ``LoopBlockedError``. One mechanism for both
libraries (instead of trio instruments plus asyncio's debug mode) keeps the tests comparable.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback

import anyio
from anyio.abc import TaskStatus


class LoopBlockedError(AssertionError):
    """The event loop's thread was blocked longer than the watchdog allows."""


class LoopWatchdog:
    """Detects stalls of the running event loop. Start ``heartbeat`` as a task on the loop.

    Args:
        threshold: seconds the loop may go without running the heartbeat.
        interval: seconds between heartbeats.
    """

    def __init__(self, threshold: float = 1.0, interval: float = 0.01) -> None:
        self.threshold = threshold
        self.interval = interval
        self.stalls: list[str] = []
        self._beat = time.monotonic()
        self._loop_thread = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="pumpcore-watchdog", daemon=True)

    async def heartbeat(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run on the loop until cancelled; start it with ``await task_group.start(...)`` so
        that the watch has begun before anything else runs."""
        self._loop_thread = threading.get_ident()
        self._beat = time.monotonic()
        self._thread.start()
        task_status.started()
        try:
            while True:
                self._beat = time.monotonic()
                await anyio.sleep(self.interval)
        finally:
            self._done.set()

    def _watch(self) -> None:
        reported_beat = None
        while not self._done.wait(self.interval):
            beat = self._beat
            if time.monotonic() - beat > self.threshold and beat != reported_beat:
                reported_beat = beat  # one report per stall
                frame = sys._current_frames().get(self._loop_thread)
                where = "".join(traceback.format_stack(frame)) if frame is not None else "?"
                self.stalls.append(
                    f"the event loop was blocked for more than {self.threshold} s; it was in:\n"
                    f"{where}"
                )

    def check(self) -> None:
        """Raise ``LoopBlockedError`` when a stall was seen."""
        self._done.set()
        if self.stalls:
            raise LoopBlockedError(self.stalls[0])
