"""The pieces a pipeline is built from: Processor, Generator, Sink and Source.

A processor is any callable ``(context, event) -> event | None`` or an instance of ``Processor``
with a ``process`` method. Returning None drops the event; the pipeline counts the drop.
Classes exist for what a function cannot say: configuration (``ConfigDefaults``), a component id,
time-driven output (``next_awake``/``on_tick``) and output that must be flushed on stop
(``on_stop``).

Slow work: a processor may be an ``async def`` (a coroutine function, or a ``Processor`` whose
``process`` is one) or *blocking* (``@blocking`` on a function, ``blocking = True`` on a
``Processor`` class or instance). The pipeline never runs those itself: it hands each call to the
executor (``pumpcore/_link.py``), which awaits it on its loop or runs it in a worker thread.
Generators and sinks cannot be async or blocking (``AsyncSink``/``BlockingSink`` do their I/O in
``flush``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ._config import BSPUMP_HINT, Configurable
from ._delivery import Held, Receipt
from ._errors import ConfigError

if TYPE_CHECKING:
    from ._pipeline import Pipeline as PipelineT

Context = dict[str, Any]
"""One dict per event, carried beside it through the pipeline (BSPump's ``context``)."""

ProcessorFunction = Callable[[Context, Any], Any]
"""A plain function processor: ``(context, event) -> event | None``."""

Emitted = Iterable[tuple[Context, Any] | Held]
"""(context, event) pairs a component emits outside of ``process`` (on a tick or on stop); a
``Held`` for an event kept from earlier calls, with the origin held for it."""

F = TypeVar("F", bound=Callable[..., Any])

StepMode = Literal["inline", "async", "blocking"]
"""How a step runs: in the pipeline's own call (inline), awaited by the executor, or in a worker
thread of the executor."""

_BLOCKING_MARK = "__pumpcore_blocking__"


def blocking(fn: F) -> F:
    """Mark a processor as blocking: executors run it in a worker thread, never on their loop.

    Use it on a function processor (or on a ``Processor`` subclass, which sets its ``blocking``
    attribute). A blocking processor may call blocking libraries (``requests``, a database
    driver, ``time.sleep``); several calls run at once in worker threads (at most the pipeline's
    ``async_concurency_limit``, and the executor's thread budget, 40), so it must be thread-safe.
    Outputs keep their input order. Without an executor (``pumpcore.testing.run_chain``) it
    simply runs inline.

    Raises:
        TypeError: ``fn`` is an ``async def`` (async processors need no mark).

    Example:
        >>> @blocking
        ... def lookup(context, event):
        ...     return event  # e.g. requests.get(...).json()
        >>> step_mode(lookup)
        'blocking'
    """
    if isinstance(fn, type):
        if not issubclass(fn, Processor):
            raise TypeError(f"blocking: {fn.__name__} is not a Processor subclass")
        fn.blocking = True
        return fn
    if _is_coroutine_function(fn):
        raise TypeError(
            f"blocking: {getattr(fn, '__name__', fn)!r} is an async def; "
            "async processors are recognised without a mark"
        )
    setattr(fn, _BLOCKING_MARK, True)
    return fn


def _is_coroutine_function(fn: object) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    if inspect.isroutine(fn) or not callable(fn):
        return False
    return inspect.iscoroutinefunction(type(fn).__call__)  # an object with an async __call__


def step_mode(step: object) -> StepMode:
    """How the pipeline runs ``step`` (a Processor or a function): inline, async or blocking.

    Raises:
        TypeError: a step that is both ``async def`` and marked blocking.
    """
    if isinstance(step, Processor):
        fn: object = step.generate if isinstance(step, Generator) else step.process
        marked = bool(step.blocking)
    else:
        fn = step
        marked = bool(getattr(step, _BLOCKING_MARK, False))
    if _is_coroutine_function(fn):
        if marked:
            name = getattr(step, "Id", None) or getattr(step, "__name__", repr(step))
            raise TypeError(f"{name!r} is an async def and marked blocking; choose one")
        return "async"
    return "blocking" if marked else "inline"


class Component(Configurable):
    """Something that lives in a pipeline: has an id, a config and, once attached, a pipeline."""

    Pipeline: PipelineT | None

    def __init__(
        self,
        pipeline: PipelineT | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.Pipeline = None  # before the config is applied: apply_config may look at it
        from ._pipeline import Pipeline  # a cycle at import time: _pipeline imports this module

        if pipeline is not None and not isinstance(pipeline, Pipeline):
            raise ConfigError(
                f"{type(self).__name__}: pipeline must be a Pipeline, got {pipeline!r}{BSPUMP_HINT}"
            )
        super().__init__(id=id, config=config)
        if pipeline is not None:
            self.attach(pipeline)

    def attach(self, pipeline: PipelineT) -> None:
        """Join ``pipeline``; resolve config again with its ``[pipeline:PID:ComponentID]``."""
        self.Pipeline = pipeline
        self.reconfigure(pipeline.component_section(self.Id))

    def locate_address(self) -> str:
        """``PipelineID.ComponentID``, BSPump's address of a component."""
        pid = self.Pipeline.Id if self.Pipeline is not None else "?"
        return f"{pid}.{self.Id}"


class Processor(Component):
    """A step that transforms, enriches or filters events. Override ``process``.

    ``process`` may be an ``async def``: the executor then awaits it (at most the pipeline's
    ``async_concurency_limit`` at once, outputs kept in input order). Set ``blocking = True`` on
    the class (or an instance, before it joins a pipeline) when ``process`` blocks: the executor
    runs it in a worker thread.

    A processor that keeps an event beyond the call that gave it (a window, a buffer) and returns
    None meanwhile must say so, or the event's source position could be acknowledged before the
    event is written: it holds the event's origin (``pumpcore.lowlevel.hold()``) and emits the
    event later as a ``pumpcore.lowlevel.Held`` (from ``generate``, ``on_tick`` or ``on_stop``).

    Attributes:
        blocking: True when ``process`` blocks (I/O, a slow library) and must run in a worker
            thread; it must then be thread-safe.

    Example:
        >>> class Double(Processor):
        ...     def process(self, context, event):
        ...         return event * 2
        >>> Double().process({}, 21)
        42
    """

    blocking: bool = False

    def process(self, context: Context, event: Any) -> Any:
        """Return the event for the next step, or None to drop it."""
        return event

    def next_awake(self) -> float | None:
        """When this component next wants ``on_tick`` (pipeline time), or None for never."""
        return None

    def on_tick(self, now: float) -> Emitted:
        """Time has reached ``now``; return events to pass on from this component's position."""
        return ()

    def on_stop(self, now: float) -> Emitted:
        """The pipeline is stopping; return what this component still holds (e.g. a partial
        aggregate), to be passed on before the sinks are flushed."""
        return ()


class Generator(Processor):
    """One event in, any number out. Override ``generate``.

    The consumed event is counted as ``event.absorbed``; each event generated is counted as
    ``event.generated`` and continues, with the same context, from the next step.

    Example:
        >>> class Split(Generator):
        ...     def generate(self, context, event):
        ...         return event.split(",")
        >>> list(Split().generate({}, "a,b"))
        ['a', 'b']
    """

    def generate(self, context: Context, event: Any) -> Iterable[Any]:
        """Return (or yield) the events derived from ``event``."""
        return (event,)


class Sink(Processor):
    """The end of a pipeline: takes events out of it. Override ``process`` (its result is ignored).

    Sinks that buffer (files, network batches) override ``flush``; the executor calls it on stop and
    whenever it needs the writes to be durable before acknowledging the source's positions.
    """

    def process(self, context: Context, event: Any) -> None:
        """Take the event out of the pipeline."""

    def flush(self) -> None:
        """Make every event taken so far durable."""


class Source(Component):
    """Where events enter a pipeline. ``process`` hands one event to the pipeline now.

    Attributes:
        passive: True for sources only others feed (InternalSource): they never keep a run alive.
        isolate_failures: True for sources that serve many clients (a webhook, a socket server):
            an event of theirs that fails is that input's failure — counted as a warning,
            dead-lettered and reported to failure listeners — and the pipeline goes on whatever
            its error policy says. One bad input must not stop a service.
        isolate_source_failures: True for sources whose own failures concern one input only (a
            poll the server refused): ``report_source_failure`` counts it (``source.error``) and
            reports it soft, and the pipeline goes on whatever its error policy says; the next
            poll is the retry.
    """

    passive: bool = False
    isolate_failures: bool = False
    isolate_source_failures: bool = False
    #: Receipts of events put with ``wait=True`` that no commit took yet (``pumpcore/_delivery``
    #: rule 6); None for sources that never make any.
    receipts: list[Receipt] | None = None

    def process(self, event: Any, context: Context | None = None) -> None:
        """Send ``event`` through the pipeline (synchronously, up to the sink)."""
        pipeline = self.Pipeline
        if pipeline is None:
            raise RuntimeError(f"source {self.Id!r} is not part of a pipeline")
        link = pipeline.Executor
        if link is None:
            pipeline.process(event, context)
        else:
            link.process(pipeline, event, context)  # serialized with the executor's processing

    def process_many(
        self, events: Sequence[Any], contexts: Sequence[Context] | None = None
    ) -> None:
        """Send ``events`` (with their ``contexts``, or a fresh one each) through the pipeline,
        in order, as ``process`` would one by one: from a worker thread it crosses to the
        executor's thread once for all of them, not once per event (a ``cycle`` reading rows
        in chunks: a database cursor's ``fetchmany``)."""
        pipeline = self.Pipeline
        if pipeline is None:
            raise RuntimeError(f"source {self.Id!r} is not part of a pipeline")
        link = pipeline.Executor
        if link is None:
            for i, event in enumerate(events):
                pipeline.process(event, None if contexts is None else contexts[i])
        else:
            link.process_many(pipeline, events, contexts)

    def exhausted(self) -> bool:
        """True when the source will never produce another event (finite sources only)."""
        return False

    def has_pending(self) -> bool:
        """True when ``pump`` would produce events right now without waiting for anything."""
        return False

    def buffered(self) -> int:
        """How many events this source holds that were read or put but not taken by its
        pipeline: what a run that ends now would leave unprocessed (``RunReport.unprocessed``).
        Events not yet read from the outside (an iterator's rest) are not counted."""
        return 0

    def pump(self, max_items: int) -> int:
        """Push up to ``max_items`` ready events into the pipeline; return how many were taken.

        In-memory sources implement it; executors call it while the pipeline is ready.
        """
        return 0

    def next_awake(self) -> float | None:
        """When this source next has something to do (pipeline time), or None."""
        return None
