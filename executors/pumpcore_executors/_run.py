"""``run``: pick an executor by name and drive pipelines to the end."""

from __future__ import annotations

from typing import Literal

from pumpcore import Clock, Pipeline, Pump
from pumpcore._errors import ConfigError

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
) -> RunReport:
    """Run pipelines until every finite source is exhausted (or ``stop_after`` seconds pass).

    Args:
        pipelines: pipelines, or a ``Pump`` holding them.
        executor: ``"sync"`` (the calling thread), ``"threads"``, ``"asyncio"`` or ``"trio"``.
        clock: where time comes from; ``pumpcore.testing.VirtualClock`` runs schedules instantly.
        stop_after: seconds of ``clock`` time after which the run stops cleanly.
        batch_size: the most events taken from one source at a time.

    Returns:
        A ``RunReport`` with each pipeline's statistics and the hard errors that stopped any.

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
    if executor != "sync":
        raise NotImplementedError(f"run: executor {executor!r} is not available yet")
    return run_sync(
        flat, clock=clock or SystemClock(), stop_after=stop_after, batch_size=batch_size
    )
