"""``run``: pick an executor by name and drive pipelines to the end."""

from __future__ import annotations

import importlib.util
from typing import Literal

from pumpcore import Clock, ConfigError, Pipeline, Pump

from ._clock import SystemClock
from ._handle import RunHandle
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
    commit_every: int = 1000,
    stop_timeout: float = 10.0,
    handle_signals: bool = True,
    blocking_threshold: float | None = None,
    handle: RunHandle | None = None,
    until_stopped: bool = False,
) -> RunReport:
    """Run pipelines until every finite source is exhausted, ``stop_after`` seconds pass,
    SIGINT/SIGTERM asks to stop, or another thread calls ``handle.stop()``.

    ``run`` owns the process while it runs: called in the main thread, it handles SIGINT and
    SIGTERM as "stop cleanly" and restores the previous handlers when it returns. Stopping takes
    no new input, drains what is in flight, flushes aggregates (``Pipeline.stop``) and sinks
    (``Sink.flush``), acknowledges what is done, closes sinks, then sources. Events already read
    (or queued between pipelines) are processed in the drain; what a pipeline can no longer
    take (stopped by a hard error) is counted in ``RunReport.unprocessed``, its positions never
    acknowledged. To run inside an application's own event loop, use ``serving`` instead.

    Other threads may feed ``InternalSource.put`` while the run goes on (each put runs on the
    executor's thread; once the run is over, ``put`` raises ``PipelineStoppedError``). A run
    whose only input comes that way looks idle: pass ``until_stopped=True`` so that it ends
    only by ``handle.stop()``, a signal or ``stop_after``.

    Args:
        pipelines: pipelines, or a ``Pump`` holding them.
        executor: ``"sync"`` (the calling thread), ``"threads"`` (this thread plus a pool for
            blocking work), ``"asyncio"`` or ``"trio"`` (a new event loop; needs anyio, and trio
            for "trio").
        clock: where time comes from; ``pumpcore.testing.VirtualClock`` runs schedules instantly.
        stop_after: seconds of ``clock`` time after which the run stops cleanly.
        batch_size: the most events taken from one source at a time.
        commit_every: commit (flush sinks, acknowledge positions) once this many positions were
            taken or events reached sinks; sooner whenever the run is idle.
        stop_timeout: the bound, in seconds, on the stop sequence (waiting for running cycles,
            flushing and closing sinks); the sync executor cannot bound a blocking call.
        handle_signals: handle SIGINT/SIGTERM (only possible in the main thread).
        blocking_threshold: async executors only: fail the run with ``LoopBlockedError`` when
            the event loop was blocked longer than this many seconds (a debugging aid for tests).
        handle: a ``RunHandle`` whose ``stop()``, from any thread, stops the run cleanly.
        until_stopped: never end for want of work (``RunMachine`` rule 5), only when stopped.

    Returns:
        A ``RunReport`` with each pipeline's statistics, the hard errors that stopped any, and
        the events left unprocessed.

    Raises:
        ConfigError: unknown executor, or one that is not installed.
        TypeError: an ``async`` cycle under the sync or threads executor.
        RuntimeError: ``handle`` already drives another run.
        Exception: what a source or sink raised when opening; any ``BaseException`` that is
            not an ``Exception`` (KeyboardInterrupt, SystemExit) raised inside the run, after a
            clean stop. Never an ``ExceptionGroup`` of them.

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
            commit_every=commit_every,
            handle_signals=handle_signals,
            stop_timeout=stop_timeout,
            handle=handle,
            until_stopped=until_stopped,
        )
    if executor == "threads":
        from ._threads import run_threads

        return run_threads(
            flat,
            clock=clock,
            stop_after=stop_after,
            stop_timeout=stop_timeout,
            batch_size=batch_size,
            commit_every=commit_every,
            handle_signals=handle_signals,
            handle=handle,
            until_stopped=until_stopped,
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
        commit_every=commit_every,
        handle_signals=handle_signals,
        blocking_threshold=blocking_threshold,
        handle=handle,
        until_stopped=until_stopped,
    )
