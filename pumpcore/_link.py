"""The link an executor installs on each pipeline it drives (``Pipeline.Executor``).

The core cannot wait (it imports no event loop), yet some of its methods are about waiting:
``InternalSource.put_async`` waits while its pipeline is throttled, a blocking ``cycle`` that a
worker thread runs must hand its events to the thread that owns the pipelines, and an async or
blocking processor must be awaited or run in a worker thread. All go through this link, which
only an executor can provide.

Rules:
1. ``Pipeline.Executor`` is None unless an executor drives the pipeline right now; the executor
   sets it when it starts and clears it when it has stopped.
2. ``process`` is how a source hands an event to its pipeline; the executor serializes it with
   its own processing (the core is not thread-safe) and may wait for readiness first.
   ``process_many`` does the same for several events in order, crossing to the executor's
   thread once for all of them rather than once each (a blocking ``cycle`` that reads rows
   in chunks); it waits for readiness again wherever the pipeline stops taking part-way.
3. ``changed()`` completes after the next change an awaiting caller may care about (events were
   taken, readiness changed, the run is stopping). It only exists under async executors.
4. ``offload(call)`` runs one call of an async or blocking step, off the pipeline's thread if it
   likes, and reports back exactly once, *on the thread that owns the pipelines*, with
   ``call.pipeline.resume(call, result)`` or ``call.pipeline.resume_failed(call, exception)`` —
   later, or before ``offload`` returns (the sync executor runs the call inline). The pipeline
   hands over at most ``async_concurency_limit`` calls at a time; the executor runs every call
   it is given at once.
5. ``is_owner_thread()`` tells whether the caller is on the thread that owns the pipelines;
   ``call(fn)`` runs ``fn()`` there, waits, and returns its result or raises its exception —
   how ``InternalSource.put`` from another thread stays safe. Once the run is over ``call``
   raises ``PipelineStoppedError`` instead of waiting forever.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs

from ._component import Context
from ._delivery import Origin

if TYPE_CHECKING:
    from ._pipeline import Pipeline

T = TypeVar("T")


@attrs.frozen(eq=False)
class Offload:
    """One call of an async or blocking step, handed by the pipeline to its executor.

    The executor runs ``function(context, event)`` — awaiting it when ``is_async``, in a worker
    thread otherwise — and gives the outcome back with ``pipeline.resume(self, result)`` or
    ``pipeline.resume_failed(self, exception)`` on the pipeline's thread; the pipeline then goes
    on from the next step, in ``sequence`` order.

    Attributes:
        pipeline: the pipeline the event is in.
        index: the step's position in the pipeline (0 is the first processor).
        component_id: the step's id (what a failure is attributed to).
        function: the step's callable (a coroutine function when ``is_async``).
        is_async: True for an ``async def``, False for a blocking step.
        context: the event's context.
        event: the event as it enters the step.
        sequence: the pipeline's count of offloads so far; results are passed on in this order.
        origin: what the event derives from, held while it is in flight (``pumpcore/_delivery``).
    """

    pipeline: Pipeline
    index: int
    component_id: str
    function: Callable[[Context, Any], Any] = attrs.field(repr=False)
    is_async: bool
    context: Context = attrs.field(repr=False)
    event: Any
    sequence: int
    origin: Origin = attrs.field(repr=False)


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

    def process_many(
        self, pipeline: Pipeline, events: Sequence[Any], contexts: Sequence[Context] | None
    ) -> None:
        """Process ``events`` (with their ``contexts``, or a fresh one each) in order on
        ``pipeline``, as ``process`` would one by one (rule 2). Called by
        ``Source.process_many``; may block the calling worker thread while the pipeline is
        throttled.

        Raises:
            PipelineStoppedError: the pipeline stopped before taking them all (the events
                after the last one taken were not processed).
        """
        ...

    def offload(self, call: Offload) -> None:
        """Run an async or blocking step's call and report its outcome (rule 4).

        Called on the pipelines' thread while the pipeline processes an event; must not block it
        (the sync executor, which has nothing else to do, is the exception).
        """
        ...

    def is_owner_thread(self) -> bool:
        """True when called on the thread that owns the pipelines (rule 5)."""
        ...

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on the thread that owns the pipelines and return its result (rule 5).

        Raises:
            PipelineStoppedError: the run is over (``fn`` did not run).
        """
        ...


def not_served_error(what: str, pipeline_id: str) -> RuntimeError:
    """The error for an async wait on a pipeline no async executor is serving."""
    return RuntimeError(
        f"{what}: no async executor is serving pipeline {pipeline_id!r}; run it inside "
        "`async with pumpcore_executors.serving(...)` (or use the non-blocking put())"
    )
