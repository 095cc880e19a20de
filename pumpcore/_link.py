"""The link an executor installs on each pipeline it drives (``Pipeline.Executor``).

The core cannot wait (it imports no event loop), yet some of its methods are about waiting:
``InternalSource.put_async`` waits while its pipeline is throttled, and a blocking ``cycle`` that a
worker thread runs must hand its events to the thread that owns the pipelines. Both go through
this link, which only an executor can provide.

Rules:
1. ``Pipeline.Executor`` is None unless an executor drives the pipeline right now; the executor
   sets it when it starts and clears it when it has stopped.
2. ``process`` is how a source hands an event to its pipeline; the executor serializes it with
   its own processing (the core is not thread-safe) and may wait for readiness first.
3. ``changed()`` completes after the next change an awaiting caller may care about (events were
   taken, readiness changed, the run is stopping). It only exists under async executors.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol

from ._component import Context

if TYPE_CHECKING:
    from ._pipeline import Pipeline


class ExecutorLink(Protocol):
    """What an executor offers the core while it drives a pipeline."""

    def notify(self) -> None:
        """Something was queued for the executor (an ``InternalSource.put``): look again soon."""
        ...

    def changed(self) -> Awaitable[None]:
        """An awaitable that completes at the next change (events taken, readiness, stop).

        Raises:
            RuntimeError: the executor is not an async one (nothing can be awaited there).
        """
        ...

    def process(self, pipeline: Pipeline, event: Any, context: Context | None) -> None:
        """Process one event on ``pipeline``, serialized with the executor's own processing.

        Called by ``Source.process``; may block the calling worker thread while the pipeline is
        throttled.
        """
        ...


def not_served_error(what: str, pipeline_id: str) -> RuntimeError:
    """The error for an async wait on a pipeline no async executor is serving."""
    return RuntimeError(
        f"{what}: no async executor is serving pipeline {pipeline_id!r}; run it inside "
        "`async with pumpcore_executors.serving(...)` (or use the non-blocking put())"
    )
