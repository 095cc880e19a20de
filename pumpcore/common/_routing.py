"""Routing between pipelines: InternalSource, DirectSource, RouterProcessor/RouterSink, Tee.

Rules:
1. An ``InternalSource`` holds at most ``queue_max_size`` events; ``put`` beyond that raises
   ``QueueFullError`` — the event is refused, never dropped silently.
2. When its queue reaches the backpressure threshold it throttles the pipelines linked as its
   ancestors (routers link them on first use), and releases them when it drains below it.
   Pipelines stop taking events the moment they are throttled, so a router upstream rarely
   meets a full queue; when it does, the failure goes through that pipeline's error policy.
3. ``DirectSource.put`` processes the event at once, in the caller's stack.
4. A queued event holds the origin of the event that put it (``pumpcore/_delivery.py``): the
   feeding source's positions are acknowledged only once the event went on from the queue.
5. ``put`` on a stopped pipeline raises ``PipelineStoppedError``: an event accepted then would
   never be processed. A hard error does not refuse puts (``recover()`` resumes the queue);
   what is still queued when the run ends is reported (``RunReport.unprocessed``).
6. ``put`` from a thread other than the executor's goes through the executor link (``call``),
   which runs it on the thread that owns the pipelines: the core is not thread-safe.
"""

from __future__ import annotations

import copy
import functools
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from .._component import Context, Processor, Sink, Source
from .._delivery import Origin, Receipt, current_origin, hold, running
from .._errors import ConfigError, PipelineStoppedError, ProcessingError, QueueFullError
from .._link import not_served_error

if TYPE_CHECKING:
    from .._pipeline import Pipeline as PipelineT


class InternalSource(Source):
    """A bounded in-memory queue feeding its pipeline (BSPump's InternalSource).

    Config:
        queue_max_size: the bound (default 1000).
        backpressure_threshold: queue length at which feeders are throttled (0: 3/4 of the bound).

    Example:
        >>> from pumpcore import Pipeline
        >>> from pumpcore.common import ListSink
        >>> p = Pipeline("Child")
        >>> p.build(InternalSource(), ListSink())
        >>> source = p.locate_source("InternalSource")
        >>> source.put({}, "event")
        >>> source.pump(10)
        1
    """

    passive = True

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "queue_max_size": 1000,
        "backpressure_threshold": 0,
    }

    def __init__(
        self,
        pipeline: PipelineT | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(pipeline, id, config)
        # Each event with the origin held for it (pumpcore/_delivery.py): the feeder's marks
        # wait until the event went on from here.
        self._queue: deque[tuple[Context, Any, Origin]] = deque()
        self._throttling = False

    def apply_config(self) -> None:
        """Read and check the queue's bound and backpressure threshold."""
        self._max = int(self.Config["queue_max_size"])
        if self._max < 1:
            raise ConfigError(
                f"InternalSource {self.Id!r}: queue_max_size must be >= 1, got {self._max!r}"
            )
        threshold = int(self.Config["backpressure_threshold"])
        self._threshold = threshold if threshold > 0 else max(1, self._max * 3 // 4)
        if self._threshold > self._max:
            raise ConfigError(
                f"InternalSource {self.Id!r}: backpressure_threshold {self._threshold!r} "
                f"exceeds queue_max_size {self._max!r}"
            )

    @property
    def bound(self) -> int:
        """The most events the queue holds."""
        return self._max

    def __len__(self) -> int:
        return len(self._queue)

    def is_full(self) -> bool:
        """True when ``put`` would raise."""
        return len(self._queue) >= self._max

    def put(
        self,
        context: Context | None,
        event: Any,
        copy_context: bool = False,
        copy_event: bool = False,
    ) -> None:
        """Queue an event without waiting; from any thread while an executor drives the
        pipeline (rule 6: another thread waits while the executor's thread queues it).

        Raises:
            QueueFullError: the queue holds ``queue_max_size`` events already.
            PipelineStoppedError: the pipeline is stopped (rule 5).
        """
        pipeline = self.Pipeline
        link = pipeline.Executor if pipeline is not None else None
        if link is not None and not link.is_owner_thread():
            link.call(functools.partial(self.put, context, event, copy_context, copy_event))
            return
        if pipeline is not None and pipeline.is_stopped():
            raise PipelineStoppedError(
                f"InternalSource {self.locate_address()!r}: pipeline {pipeline.Id!r} is stopped; "
                "the event would never be processed"
            )
        if len(self._queue) >= self._max:
            raise QueueFullError(
                f"InternalSource {self.locate_address()!r} is full ({self._max} events); "
                "wait for the pipeline to be ready or route through a RouterProcessor"
            )
        ctx: Context = {} if context is None else (dict(context) if copy_context else context)
        self._queue.append((ctx, copy.deepcopy(event) if copy_event else event, hold()))
        if not self._throttling and len(self._queue) >= self._threshold:
            self._set_backpressure(True)
        if link is not None:
            link.notify()  # an idle executor must look at the queue again

    async def put_async(
        self,
        context: Context | None,
        event: Any,
        copy_context: bool = False,
        copy_event: bool = False,
        *,
        wait: bool = False,
    ) -> None:
        """Queue an event, first waiting while the queue is at its backpressure threshold or the
        pipeline is not ready (throttled, or stopped by a hard error until ``recover()``).

        Needs an async executor serving the pipeline (``pumpcore_executors.serving``); the wait
        goes through the link it installs, so the core stays free of any event loop.

        Args:
            wait: also wait until the event is *committed*: everything derived from it was
                written by a sink whose flush returned, dropped on purpose or dead-lettered (as
                for a source position, ``pumpcore/_delivery.py`` rule 6). The event carries a
                receipt for it; puts without ``wait`` cost nothing more.

        Raises:
            RuntimeError: no async executor serves the pipeline.
            PipelineStoppedError: the pipeline stopped (or stops while waiting); with ``wait``,
                the run ended before the event was committed.
            ProcessingError: with ``wait``: the event (or one derived from it) failed hard, was
                abandoned at stop, or a flush that had to write it failed.
        """
        pipeline = self.Pipeline
        if pipeline is None:
            raise RuntimeError(f"source {self.Id!r} is not part of a pipeline")
        while True:
            if pipeline.is_stopped():
                raise PipelineStoppedError(f"pipeline {pipeline.Id!r} is stopped")
            link = pipeline.Executor
            if link is None:
                raise not_served_error(f"{self.locate_address()}.put_async", pipeline.Id)
            if pipeline.is_ready() and not self._throttling and not self.is_full():
                break
            await link.changed()
        if not wait:
            self.put(context, event, copy_context, copy_event)
            return
        receipt = Receipt(self)
        with running(Origin((*current_origin(), receipt))):
            self.put(context, event, copy_context, copy_event)
        if self.receipts is None:
            self.receipts = []
        self.receipts.append(receipt)
        while not receipt.committed:
            if receipt.failed:
                raise ProcessingError(
                    f"{self.locate_address()}: the event was not committed: it failed hard, was "
                    "abandoned at stop, or a sink failed to write it"
                )
            link = pipeline.Executor
            if link is None:
                raise PipelineStoppedError(
                    f"{self.locate_address()}: the run ended before the event was committed"
                )
            await link.changed()

    def _set_backpressure(self, enable: bool) -> None:
        self._throttling = enable
        if self.Pipeline is not None:
            self.Pipeline.throttle_ancestors(self, enable)

    def has_pending(self) -> bool:
        """True while events wait in the queue."""
        return bool(self._queue)

    def buffered(self) -> int:
        """Events waiting in the queue."""
        return len(self._queue)

    def pump(self, max_items: int) -> int:
        """Process up to ``max_items`` queued events; return how many were taken.

        Events are processed in runs of the same origin, each run under its origin, which is
        released for what was taken.
        """
        pipeline = self.Pipeline
        if pipeline is None:
            raise RuntimeError(f"source {self.Id!r} is not part of a pipeline")
        queue = self._queue
        left = min(max_items, len(queue))
        taken_total = 0
        while left:
            origin = queue[0][2]
            run = [queue.popleft()]
            while len(run) < left and queue and queue[0][2] is origin:
                run.append(queue.popleft())
            with running(origin):
                taken = pipeline.process_batch([r[1] for r in run], [r[0] for r in run])
            origin.release(taken)
            taken_total += taken
            left -= len(run)
            if taken < len(run):
                queue.extendleft(reversed(run[taken:]))
                break
        if self._throttling and len(queue) < self._threshold:
            self._set_backpressure(False)
        return taken_total


class TeeSource(InternalSource):
    """The receiving end of a ``TeeProcessor``: an InternalSource under its own name."""


class DirectSource(Source):
    """Processes each event ``put`` into it at once, synchronously (BSPump's DirectSource)."""

    passive = True

    def put(self, context: Context | None, event: Any) -> None:
        """Process the event through the pipeline now."""
        self.process(event, context)


class RouterMixIn:
    """Finds target sources by address and links their pipelines so throttling flows back."""

    Pipeline: PipelineT | None
    Id: str

    def _router_init(self) -> None:
        self._targets: dict[str, Source] = {}

    def locate(self, address: str | Source) -> Source:
        """The source at ``address`` (``"PipelineID.SourceID"``), linked to this pipeline."""
        if isinstance(address, Source):
            source, key = address, address.locate_address()
        else:
            key = address
            cached = self._targets.get(key)
            if cached is not None:
                return cached
            source = self._resolve(address)
        if source.Pipeline is not None and self.Pipeline is not None:
            source.Pipeline.link(self.Pipeline)
        self._targets[key] = source
        return source

    def _resolve(self, address: str) -> Source:
        pump = self.Pipeline.Pump if self.Pipeline is not None else None
        if pump is None:
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: cannot resolve {address!r}: the pipeline is "
                "not in a Pump; add both pipelines to a Pump or pass the source object"
            )
        found = pump.locate(address)
        if not isinstance(found, Source):
            raise ConfigError(f"{type(self).__name__} {self.Id!r}: no source at {address!r}")
        return found

    def unlocate(self, address: str) -> None:
        """Undo ``locate``: forget the target and unlink its pipeline."""
        source = self._targets.pop(address, None)
        if source is not None and source.Pipeline is not None and self.Pipeline is not None:
            source.Pipeline.unlink(self.Pipeline)

    def route(self, context: Context, event: Any, source_id: str | Source) -> None:
        """Put the event into the target source (an InternalSource or a DirectSource)."""
        target = self.locate(source_id)
        if isinstance(target, InternalSource | DirectSource):
            target.put(context, event)
        else:
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: target {source_id!r} is a "
                f"{type(target).__name__}, not an InternalSource or DirectSource"
            )


class RouterProcessor(RouterMixIn, Processor):
    """A processor that dispatches events to other pipelines. Override ``process``; call
    ``self.route(context, event, "Pipeline.Source")``; return None when the event moved on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._router_init()


class RouterSink(RouterMixIn, Sink):
    """A sink that dispatches events to other pipelines. Override ``process`` and call
    ``self.route(context, event, "Pipeline.Source")``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._router_init()


class TeeProcessor(RouterProcessor):
    """Sends a copy of each event to the bound sources and passes the event on.

    Example: ``TeeProcessor().bind("SampleTeePipeline.*TeeSource")``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._bound: list[str | Source] = []

    def bind(self, target: str | Source) -> TeeProcessor:
        """Add a target source (address or object); returns self to chain inside ``build``."""
        self._bound.append(target)
        return self

    def process(self, context: Context, event: Any) -> Any:
        """Route a deep copy of the event (with a copy of its context) to every target."""
        for target in self._bound:
            self.route(dict(context), copy.deepcopy(event), target)
        return event
