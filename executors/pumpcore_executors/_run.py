"""``run``: pick an executor by name and drive pipelines to the end."""

from __future__ import annotations

import importlib.util
from typing import Literal

from pumpcore import Clock, ConfigError, Pipeline, Pump

from ._clock import SystemClock
from ._report import RunReport
from ._sync import run_sync

ExecutorName = Literal["sync", "threads", "asyncio", "trio"]
EXECUTORS: tuple[ExecutorName, ...] = ("sync", "threads", "asyncio", "trio")


def run(
    *pipelines: Pipeline | Pump,
    executor: ExecutorName = "sync",
    clock: Clock | None = None,
    stop_after: float | None = None,
    batch_size: int = 256,
    stop_timeout: float = 10.0,
    handle_signals: bool = True,
    blocking_threshold: float | None = None,
) -> RunReport:
    """Run pipelines until every finite source is exhausted, ``stop_after`` seconds pass, or
    SIGINT/SIGTERM asks to stop.

    ``run`` owns the process while it runs: called in the main thread, it handles SIGINT and
    SIGTERM as "stop cleanly" and restores the previous handlers when it returns. Stopping takes
    no new input, drains what is in flight, flushes aggregates (``Pipeline.stop``) and sinks
    (``Sink.flush``), acknowledges what is done, closes sinks, then sources. To run inside an
    application's own event loop, use ``serving`` instead.

    Args:
        pipelines: pipelines, or a ``Pump`` holding them.
        executor: ``"sync"`` (the calling thread), ``"threads"`` (this thread plus a pool for
            blocking work), ``"asyncio"`` or ``"trio"`` (a new event loop; needs anyio, and trio
            for "trio").
        clock: where time comes from; ``pumpcore.testing.VirtualClock`` runs schedules instantly.
        stop_after: seconds of ``clock`` time after which the run stops cleanly.
        batch_size: the most events taken from one source at a time.
        stop_timeout: the bound, in seconds, on the stop sequence (waiting for running cycles,
            flushing and closing sinks); the sync executor cannot bound a blocking call.
        handle_signals: handle SIGINT/SIGTERM (only possible in the main thread).
        blocking_threshold: async executors only: fail the run with ``LoopBlockedError`` when
            the event loop was blocked longer than this many seconds (a debugging aid for tests).

    Returns:
        A ``RunReport`` with each pipeline's statistics and the hard errors that stopped any.

    Raises:
        ConfigError: unknown executor, or one that is not installed.
        TypeError: an ``async`` cycle, source or sink under the sync or threads executor.

    Example:
        >>> from pumpcore.common import IteratorSource, ListSink
        >>> p = Pipeline("P")
        >>> p.build(IteratorSource([1, 2]), ListSink())
        >>> run(p).statistics["P"].event_out
        2
    """
    flat: list[Pipeline] = []
    for item in pipelines:
        flat.extend(item if isinstance(item, Pump) else [item])
    if executor not in EXECUTORS:
        raise ConfigError(f"run: unknown executor {executor!r}; choose one of {EXECUTORS}")
    clock = clock or SystemClock()
    if executor == "sync":
        return run_sync(
            flat,
            clock=clock,
            stop_after=stop_after,
            batch_size=batch_size,
            handle_signals=handle_signals,
            stop_timeout=stop_timeout,
        )
    if executor == "threads":
        from ._threads import run_threads

        return run_threads(
            flat,
            clock=clock,
            stop_after=stop_after,
            stop_timeout=stop_timeout,
            batch_size=batch_size,
            handle_signals=handle_signals,
        )
    missing = [m for m in ("anyio", executor) if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"run: executor {executor!r} needs {' and '.join(missing)}: "
            f"pip install 'pumpcore[{'trio' if executor == 'trio' else 'async'}]'"
        )
    from ._async import run_async

    return run_async(
        flat,
        backend=executor,
        clock=clock,
        stop_after=stop_after,
        stop_timeout=stop_timeout,
        batch_size=batch_size,
        handle_signals=handle_signals,
        blocking_threshold=blocking_threshold,
    )
