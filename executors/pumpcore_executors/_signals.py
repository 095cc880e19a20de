"""SIGINT/SIGTERM handling for ``run()``, which owns the process; ``serving()`` never installs any.

Handlers are installed only in the main thread (Python allows no other) and the previous ones are
restored afterwards, so an application that calls ``run()`` twice, or has its own handlers, is
left as it was. The handler only records the request (``on_signal`` must be safe to call from a
signal handler: set a flag, put into a ``queue.SimpleQueue``); executors look at it between steps
and while they wait.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_signals(on_signal: Callable[[], None], enabled: bool = True) -> Iterator[bool]:
    """Call ``on_signal()`` on SIGINT/SIGTERM while inside; yield whether handlers are set."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield False
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        on_signal()

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield True
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
