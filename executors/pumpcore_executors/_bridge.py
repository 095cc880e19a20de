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
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pumpcore import ConfigError

log = logging.getLogger("pumpcore.executors")


class AsyncBridge:
    """Calls coroutine functions from blocking code, on a private event loop thread."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._portal: Any = None
        self._background: list[concurrent.futures.Future[Any]] = []
        self._host: Any = None  # a task group on the bridge's loop for submit_all's tasks

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

    def submit_all(
        self, jobs: Sequence[tuple[Callable[..., Awaitable[Any]], tuple[Any, ...]]]
    ) -> list[concurrent.futures.Future[Any]]:
        """Start every ``fn(*args)`` of ``jobs`` on the bridge's loop, without waiting for them;
        each future gets its outcome (set on the loop thread), or is cancelled by ``close``.

        One trip to the loop thread for the lot: a trip costs a thread switch each way (about
        as much as a small coroutine), so the threads executor starts the ``async def``
        processor calls of a turn together.
        """
        portal = self._get_portal()
        if self._host is None:
            host, self._host = portal.start_task(_host)
            self._background.append(host)
        futures: list[concurrent.futures.Future[Any]] = [concurrent.futures.Future() for _ in jobs]
        portal.call(_spawn, self._host, jobs, futures)
        return futures

    def start(
        self,
        fn: Callable[[], Awaitable[Any]],
        what: str,
        on_failure: Callable[[Exception], None] | None = None,
    ) -> None:
        """Run ``fn()`` in the background until it returns or ``close`` cancels it; a failure is
        logged and handed to ``on_failure`` (called on the bridge's thread)."""

        async def guarded() -> None:
            try:
                await fn()
            except Exception as exc:
                log.error("%s failed: %r", what, exc, exc_info=exc)
                if on_failure is not None:
                    on_failure(exc)

        self._background.append(self._get_portal().start_task_soon(guarded))

    def cancel_background(self) -> None:
        """Cancel what ``start`` and ``submit_all`` run and wait for it to end."""
        self._host = None
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


async def _host(*, task_status: Any) -> None:
    """Holds the task group ``submit_all``'s tasks run in, until cancelled."""
    import anyio

    async with anyio.create_task_group() as group:
        task_status.started(group)
        await anyio.sleep_forever()


async def _spawn(
    group: Any,
    jobs: Sequence[tuple[Callable[..., Awaitable[Any]], tuple[Any, ...]]],
    futures: Sequence[concurrent.futures.Future[Any]],
) -> None:
    for (fn, args), future in zip(jobs, futures, strict=True):
        group.start_soon(_run, fn, args, future)


async def _run(
    fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...], future: concurrent.futures.Future[Any]
) -> None:
    try:
        result = await fn(*args)
    except Exception as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)
    finally:
        if not future.done():  # cancelled: the bridge is closing
            future.cancel()
