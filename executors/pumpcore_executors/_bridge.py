"""Running anyio-based adapters under the blocking executors (sync and threads).

An ``AsyncSource`` or ``AsyncSink`` is written once, on anyio. The async executors await its
coroutines on their own loop; the blocking executors hand them to an event loop running in a
thread of its own (an anyio blocking portal), started only when a run has such an adapter. So
every adapter runs under every executor, and anyio stays an optional dependency of the sync path.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pumpcore import ConfigError

log = logging.getLogger("pumpcore.executors")


class AsyncBridge:
    """Calls coroutine functions from blocking code, on a private event loop thread."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._portal: Any = None
        self._background: list[concurrent.futures.Future[Any]] = []

    def _get_portal(self) -> Any:
        if self._portal is None:
            try:
                from anyio.from_thread import start_blocking_portal
            except ImportError as exc:  # pragma: no cover - anyio ships with the async extras
                raise ConfigError(
                    'an async adapter needs anyio: pip install "pumpcore[async]"'
                ) from exc
            self._portal = self._stack.enter_context(start_blocking_portal())
        return self._portal

    def call(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run ``fn(*args)`` on the bridge's loop and return its result (blocks the caller)."""
        return self._get_portal().call(fn, *args)

    def start(self, fn: Callable[[], Awaitable[Any]], what: str) -> None:
        """Run ``fn()`` in the background until it returns or ``close`` cancels it."""

        async def guarded() -> None:
            try:
                await fn()
            except Exception as exc:
                log.error("%s failed: %r", what, exc, exc_info=exc)

        self._background.append(self._get_portal().start_task_soon(guarded))

    def cancel_background(self) -> None:
        """Cancel what ``start`` runs and wait for it to end."""
        for future in self._background:
            future.cancel()
        for future in self._background:
            with contextlib.suppress(concurrent.futures.CancelledError):
                future.exception()
        self._background.clear()

    def close(self) -> None:
        """Cancel background work and stop the loop thread (if it was ever started)."""
        self.cancel_background()
        self._stack.close()
        self._portal = None
