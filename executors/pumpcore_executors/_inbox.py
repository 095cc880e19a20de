"""The inbox of the blocking executors: what other threads hand the thread that owns the
pipelines.

The core is not thread-safe, so the sync and threads executors confine processing to one thread
and other threads talk to it through one ``queue.SimpleQueue`` (its ``put`` is safe even in a
signal handler). ``call(fn)`` is the ``ExecutorLink.call`` of both (``pumpcore/_link.py`` rule 5):
it queues ``fn`` and waits for the owner to run it. Once the run is over, the inbox is closed:
whatever still waits in it fails with ``PipelineStoppedError`` instead of waiting forever.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from pumpcore import PipelineStoppedError

T = TypeVar("T")


class Call:
    """A function another thread waits for the owner to run (``Inbox.call``)."""

    __slots__ = ("fn", "future")

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.future: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def run(self) -> None:
        """Run on the owner; the caller gets the outcome."""
        try:
            result = self.fn()
        except BaseException as exc:
            self.future.set_exception(exc)
        else:
            self.future.set_result(result)


class Inbox:
    """A queue into the owning thread, closed when the run is over."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self.owner = threading.get_ident()

    def put(self, item: object) -> None:
        """Hand ``item`` to the owner (safe in a signal handler)."""
        self._queue.put(item)

    def get(self, timeout: float | None) -> object:
        """The next item (``timeout`` 0: do not wait); raises ``queue.Empty``."""
        if timeout == 0:
            return self._queue.get_nowait()
        return self._queue.get(timeout=timeout)

    def drain(self, handle: Callable[[object], None], timeout: float | None) -> None:
        """``handle`` every item there is, waiting up to ``timeout`` for the first."""
        try:
            item = self.get(timeout)
            while True:
                handle(item)
                item = self.get(0)
        except queue.Empty:
            return

    def is_owner_thread(self) -> bool:
        """True on the thread that owns the pipelines."""
        return threading.get_ident() == self.owner

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on the owner and return its outcome (``ExecutorLink.call``)."""
        if self.is_owner_thread():
            return fn()
        item = Call(fn)
        self.put_open(item)
        result: T = item.future.result()
        return result

    def put_open(self, item: object) -> None:
        """Hand over ``item`` for which another thread will wait; raise once closed.

        Raises:
            PipelineStoppedError: the run is over (nobody would ever answer).
        """
        with self._lock:  # against close(): nothing is queued after its last drain
            if self._closed:
                raise PipelineStoppedError("the run is over")
            self._queue.put(item)

    def close(self) -> list[object]:
        """No more ``put_open``; fail the ``Call``s still queued, return the other items left."""
        with self._lock:
            self._closed = True
        left: list[object] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return left
            if isinstance(item, Call):
                item.future.set_exception(PipelineStoppedError("the run is over"))
            else:
                left.append(item)
