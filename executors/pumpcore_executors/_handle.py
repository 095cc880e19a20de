"""``RunHandle``: how another thread stops a run.

``run()`` blocks its thread until the run is over, so whatever wants to stop it early (a web
framework's shutdown hook, a supervisor thread, a test) runs elsewhere. The handle is created
first and passed in (``run(..., handle=handle)``), rather than returned, so that a stop requested
before the run even started is not lost: the run then stops as soon as it has opened.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class RunHandle:
    """Stops a ``run()`` from any thread, the run's own included.

    Pass it to ``pumpcore_executors.run(..., handle=handle)``; ``handle.stop()`` starts the same
    clean stop sequence as SIGTERM or ``stop_after``: no new input, what was read is drained,
    aggregates and sinks are flushed, positions acknowledged, sinks then sources closed. ``run``
    returns its report once that is done. A handle drives one run at a time; a stopped handle
    stays stopped (a run given it later stops at once).

    Example:
        >>> import threading
        >>> from pumpcore import Pipeline
        >>> from pumpcore.common import InternalSource, ListSink
        >>> from pumpcore_executors import RunHandle, run
        >>> p = Pipeline("P")
        >>> p.build(InternalSource(), ListSink())
        >>> handle = RunHandle()
        >>> threading.Timer(0.1, handle.stop).start()
        >>> run(p, executor="threads", handle=handle, until_stopped=True).statistics["P"].event_in
        0
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopped = False
        self._wake: Callable[[], None] | None = None

    @property
    def stop_requested(self) -> bool:
        """True once ``stop()`` was called."""
        return self._stopped

    def stop(self) -> None:
        """Ask the run to stop cleanly; returns at once (``run`` returns when it is done).

        Safe from any thread, any number of times; not from a signal handler (``run`` handles
        SIGINT/SIGTERM itself).
        """
        with self._lock:
            self._stopped = True
            wake = self._wake
        if wake is not None:
            wake()  # outside the lock: the executor may be detaching meanwhile

    def attach(self, wake: Callable[[], None]) -> None:
        """For executors: ``wake()`` (thread-safe) makes the run look at ``stop_requested``.

        Raises:
            RuntimeError: the handle already drives a run.
        """
        with self._lock:
            if self._wake is not None:
                raise RuntimeError("this RunHandle already drives a run; make one per run")
            self._wake = wake

    def detach(self) -> None:
        """For executors: the run is over."""
        with self._lock:
            self._wake = None
