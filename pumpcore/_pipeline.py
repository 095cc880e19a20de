"""The pipeline: sources → processors → sink, driven by whoever calls it.

Rules of this state machine:
1. A pipeline never waits, sleeps, reads a clock or does I/O. Executors feed it (``process*``,
   ``tick``, ``stop``) and ask it (``is_ready``, ``next_awake``); time arrives as an argument and
   the only timer it calls is the one an executor gave it for sampling.
2. Every event that enters is accounted for exactly once: it reaches the sink (``event.out``), is
   dropped by a processor (``event.drop``), fails (``warning`` under the soft policy, ``error``
   under the hard one), or is absorbed by a generator (whose output counts as ``event.generated``).
   An input a source rejected (``reject``) never became an event: it counts as ``event.rejected``.
3. A hard error stops intake: ``process_events`` takes nothing until ``set_error(None, None, None)``
   recovers the pipeline. The events it did not take are the caller's to keep.
4. ``throttle(who, True)`` makes the pipeline and every linked ancestor not ready until the same
   ``who`` calls ``throttle(who, False)``. Readiness is advice to sources; an event offered to a
   throttled pipeline is still processed, never lost.
5. An async or blocking step is never run here: the event is *suspended* and the call handed to
   the executor (``ExecutorLink.offload``, at most ``async_concurency_limit`` handed over at once,
   the rest queued here). ``resume``/``resume_failed`` give the outcome back; outcomes are passed
   on strictly in the order the events were suspended (one sequence per pipeline, so order per
   source is kept), each from the step after the one that suspended it, and only while nobody but
   the limit itself throttles the pipeline: backpressure from downstream (a full queue of a
   pipeline it routes to) holds finished results back instead of overfilling the queue. A
   suspended event is *in flight*: counted in ``event.in`` only, until it settles into one of
   rule 2's counters. While in flight it holds its origin (``pumpcore/_delivery.py``: no commit
   acknowledges its position), and while ``async_concurency_limit`` or more are in flight the
   pipeline throttles itself.
   Without an executor, blocking steps run inline and async steps are a TypeError.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import attrs

from ._component import Component, Context, Generator, Processor, Sink, Source, step_mode
from ._config import ConfigRule, Configurable, Settings, at_least, current_settings, one_of
from ._delivery import Held, _current
from ._errors import (
    ConfigError,
    IncompletePipelineError,
    PipelineStoppedError,
    RejectedInputError,
)
from ._fast import FastLoop, fast_loop
from ._link import Offload
from ._statistics import ComponentStatistics, PipelineStatistics, ProcessorTiming

if TYPE_CHECKING:
    from ._link import ExecutorLink
    from ._pump import Pump

Step = Processor | Callable[[Context, Any], Any]
"""What ``build`` and ``append_processor`` accept: a Processor, Generator, Sink or a function."""

ErrorPolicy = Literal["hard", "soft"] | Callable[[Exception, Context, Any], bool]

# Step kinds. Those above _SINK are offloaded to the executor (rule 5).
_PROC, _GEN, _SINK, _ASYNC, _BLOCKING = 0, 1, 2, 3, 4
_KIND_OF_MODE = {"inline": _PROC, "async": _ASYNC, "blocking": _BLOCKING}


def _name(step: object) -> str:
    """How a step is named in messages before it joins: a component's id, a function's name."""
    if isinstance(step, Component):
        return step.Id
    return str(getattr(step, "__name__", type(step).__name__))


@attrs.frozen
class Failure:
    """An event that raised in a component, as reported to error listeners and the dead letter.

    Attributes:
        pipeline_id: where it happened.
        component_id: the component that raised (``Pipeline.Id`` for a pipeline-level failure; the
            source's id for an input it rejected).
        context: the event's context.
        event: the event as it entered the failing component (the raw input, for a rejected one).
        exception: what was raised (``RejectedInputError`` for a rejected input).
        soft: True when the policy dropped the event and went on, False when it stopped intake.
    """

    pipeline_id: str
    component_id: str
    context: Context = attrs.field(repr=False)
    event: Any
    exception: Exception
    soft: bool


class AsyncLimitThrottle:
    """Who throttles a pipeline while ``async_concurency_limit`` events are in flight in it.

    One per pipeline (compared by identity), so that pipelines sharing an ancestor throttle it
    independently; its repr names the pipeline, for status lines and logs.
    """

    __slots__ = ("pipeline_id",)

    def __init__(self, pipeline_id: str) -> None:
        self.pipeline_id = pipeline_id

    def __repr__(self) -> str:
        return f"<async_concurency_limit of pipeline {self.pipeline_id!r}>"


class Pipeline(Configurable):
    """A chain of processors between sources and a sink.

    Build it with ``build(source_or_sources, *processors)`` — the last processor is the sink — or
    subclass it and build in ``__init__`` as BSPump's tutorials do.

    Args:
        id: the pipeline id (default: the class name); names the ``[pipeline:ID]`` config section.
        config: keys that override ``ConfigDefaults`` and the config file.
        settings: config-file sections; default: those set by ``use_settings`` (none otherwise).
        error_policy: ``"hard"`` (BSPump's default: stop intake on the first failure), ``"soft"``
            (count a warning, drop the event, go on), or a function ``(exc, context, event) ->
            bool`` returning True for soft. Subclasses may override ``handle_error`` instead.
            Given here, it wins over the ``error_policy`` config key; left out (None), the key
            decides.

    Config:
        error_policy: ``hard`` or ``soft``, for a config file's ``[pipeline:ID]`` section (a
            function can only be given to the constructor). Precedence, highest first: the
            constructor's ``error_policy``, ``config=``, the config file, ``ConfigDefaults``.
        async_concurency_limit: how many async or blocking processor calls may run at once.
        sample_every: one event in this many is timed per component.

    Example:
        >>> from pumpcore.common import ListSink
        >>> p = Pipeline("Doubler")
        >>> sink = ListSink()
        >>> p.build([], lambda context, event: event * 2, sink)
        >>> p.process_events([1, 2, 3])
        3
        >>> sink.Events
        [2, 4, 6]
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        # BSPump's name and spelling: how many async processors may run at once.
        "async_concurency_limit": 1000,
        # One event in this many is timed per component when an executor supplies a timer.
        "sample_every": 1000,
        # "hard" or "soft": a config file's way to set the error policy (the argument wins).
        "error_policy": "hard",
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "async_concurency_limit": at_least(1),
        "sample_every": at_least(1),
        "error_policy": one_of("hard", "soft"),
    }

    Id: str

    def __init__(
        self,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        settings: Settings | None = None,
        error_policy: ErrorPolicy | None = None,
    ) -> None:
        self.Settings = settings if settings is not None else current_settings()
        self._joined: set[str] = set()  # ids that read their section (component_section)
        super().__init__(id=id, config=config)
        self.reconfigure(self.Settings.section(f"pipeline:{self.Id}"))
        if error_policy is None:
            error_policy = self.Config["error_policy"]  # checked by ConfigRules
        elif not (callable(error_policy) or error_policy in ("hard", "soft")):
            raise ConfigError(
                f"Pipeline {self.Id!r}: error_policy must be 'hard', 'soft' or a function, "
                f"got {error_policy!r}"
            )
        self._error_policy = error_policy
        self._sources: list[Source] = []
        self._steps_src: list[Step] = []
        self._step_ids: list[str] = []
        self._dead_letter: Sink | None = None
        self._sink_tap: Callable[[Context, Any], None] | None = None
        # Counters live in plain ints; statistics() freezes them.
        self._n_in = self._n_out = self._n_drop = 0
        self._n_warn = self._n_err = self._n_gen = self._n_abs = self._n_dead = 0
        self._n_src_err = self._n_dead_err = self._n_rej = 0
        # Per-step counters, by step index, counted off the happy path only (drops, failures,
        # generators); component_statistics() derives each step's in and out from them. The
        # fast loops hold _c_drop itself: it is changed in place, never replaced.
        self._c_drop: list[int] = []
        self._c_warn: list[int] = []
        self._c_err: list[int] = []
        self._c_gen: list[int] = []  # events step k created (they enter at step k + 1)
        self._c_abs: list[int] = []
        self._c_base: list[int] = []  # in-count corrections after a change of structure
        self._n_gen0 = 0  # events injected before the first step
        self._timer: Callable[[], float] | None = None
        # The hot loops of a fast pipeline (``_fast``), made by _compile.
        self._fast_fresh: FastLoop | None = None
        self._fast_pairs: FastLoop | None = None
        self._sample_every = int(self.Config["sample_every"])
        self._countdown = self._sample_every
        self._timings: dict[str, list[float]] = {}
        self._now = 0.0
        self._throttles: set[object] = set()
        # Offloaded steps (rule 5). Sequence numbers are given at suspension and released in order.
        self._limit = int(self.Config["async_concurency_limit"])
        self._limit_who = AsyncLimitThrottle(self.Id)
        self._limited = False
        self._seq_next = 0  # the sequence number of the next suspension
        self._seq_release = 0  # the next sequence number to pass on
        self._queued: deque[Offload] = deque()  # suspended, not yet handed to the executor
        self._running: dict[int, Offload] = {}  # handed to the executor, not yet resumed
        self._settled: dict[int, tuple[Offload, bool, Any]] = {}  # resumed, waiting their turn
        self._n_flight = 0  # len(_queued) + len(_running) + len(_settled)
        self._dispatching = self._releasing = False
        self._ancestors: list[Pipeline] = []
        self._error: Failure | None = None
        self._ready = True
        self._ready_listeners: list[Callable[[bool], None]] = []
        self._failure_listeners: list[Callable[[Failure], None]] = []
        self._stopped = False
        self._stop_index = 0  # the next component ``stop`` flushes (see ``stop``)
        self.Pump: Pump | None = None
        # Set by the executor driving this pipeline, None otherwise (see pumpcore/_link.py).
        self.Executor: ExecutorLink | None = None
        self._compile()

    # ---------------------------------------------------------------- structure

    def component_section(self, component_id: str) -> Mapping[str, str]:
        """The ``[pipeline:PID:ComponentID]`` config section for one of this pipeline's parts.

        Every component reads it on joining, so the ids asked for are remembered as known to
        ``component_ids`` (a helper component that joined without being a step included).
        """
        self._joined.add(component_id)
        return self.Settings.section(f"pipeline:{self.Id}:{component_id}")

    def component_ids(self) -> frozenset[str]:
        """Ids a ``[pipeline:PID:ComponentID]`` section may name: the sources, processors, sink
        and dead-letter sink, and any other component that joined this pipeline."""
        dead = () if self._dead_letter is None else (self._dead_letter.Id,)
        return frozenset((*(s.Id for s in self._sources), *self._step_ids, *dead, *self._joined))

    def build(self, source: Source | Sequence[Source], *processors: Step) -> None:
        """Set the source(s) and append the processors; the last processor is the sink.

        Raises:
            ConfigError: naming the pipeline and the component, when the pipeline would not end
                in exactly one sink: no processors at all, a sink with steps behind it, or a last
                step that is not a ``Sink``. Checked before anything is attached, so a refused
                build leaves the pipeline as it was. (A pipeline assembled step by step with
                ``append_processor`` is not checked; an event that runs off its end fails with
                ``IncompletePipelineError``, as in BSPump.)
        """
        self._check_structure([*self._steps_src, *processors])
        self.set_source(source)
        for processor in processors:
            self.append_processor(processor)

    def _check_structure(self, steps: Sequence[Step]) -> None:
        if not steps:
            raise ConfigError(
                f"Pipeline {self.Id!r} is empty: build(source, *processors) needs at least a sink"
            )
        for step, behind in itertools.pairwise(steps):
            if isinstance(step, Sink):
                raise ConfigError(
                    f"Pipeline {self.Id!r}: sink {_name(step)!r} is not the last step "
                    f"({_name(behind)!r} follows it); a sink ends the pipeline"
                )
        if not isinstance(steps[-1], Sink):
            raise ConfigError(
                f"Pipeline {self.Id!r} has no sink: its last step {_name(steps[-1])!r} is not a "
                "Sink; end it with one (NullSink discards events)"
            )

    def set_source(self, source: Source | Sequence[Source]) -> None:
        """Add one source or a list of sources."""
        sources = [source] if isinstance(source, Source) else list(source)
        for s in sources:
            if not isinstance(s, Source):
                raise ConfigError(f"Pipeline {self.Id!r}: {s!r} is not a Source")
            if s.Pipeline is not self:
                s.attach(self)
            if any(other.Id == s.Id for other in self._sources):
                raise ConfigError(f"Pipeline {self.Id!r}: two sources with id {s.Id!r}")
            self._sources.append(s)

    def _adopt(self, step: Step) -> tuple[Step, str]:
        """Attach a step and choose its id: a component's own, a function's name made unique."""
        if isinstance(step, Source):
            raise ConfigError(f"Pipeline {self.Id!r}: source {step.Id!r} given as a processor")
        taken = set(self._step_ids)
        self._check_mode(step)
        if isinstance(step, Component):
            if step.Id in taken:
                raise ConfigError(
                    f"Pipeline {self.Id!r}: two processors with id {step.Id!r}; pass id=..."
                )
            if step.Pipeline is not self:
                step.attach(self)
            return step, step.Id
        if not callable(step):
            raise ConfigError(f"Pipeline {self.Id!r}: {step!r} is not a processor or a function")
        base = getattr(step, "__name__", type(step).__name__)
        sid, n = base, 1
        while sid in taken:
            n += 1
            sid = f"{base}#{n}"
        return step, sid

    def _check_mode(self, step: Step) -> None:
        """Refuse async or blocking sinks and generators (rule 5 covers processors only)."""
        try:
            mode = step_mode(step)
        except TypeError as exc:
            raise ConfigError(f"Pipeline {self.Id!r}: {exc}") from None
        if mode != "inline" and isinstance(step, Sink | Generator):
            what = "sink" if isinstance(step, Sink) else "generator"
            hint = (
                "; a sink doing I/O buffers in process and writes in flush (BlockingSink, "
                "AsyncSink)"
                if what == "sink"
                else ""
            )
            raise ConfigError(
                f"Pipeline {self.Id!r}: {what} {step.Id!r} is {mode}; only processors may be "
                f"async or blocking{hint}"
            )

    def _insert(self, index: int, processor: Step) -> None:
        # A sink ends the pipeline: nothing may go behind one (checked before _adopt attaches).
        steps = self._steps_src
        if index > 0 and isinstance(steps[index - 1], Sink):
            raise ConfigError(
                f"Pipeline {self.Id!r}: cannot put {_name(processor)!r} behind the sink "
                f"{self._step_ids[index - 1]!r}; a sink ends the pipeline"
            )
        if isinstance(processor, Sink) and index < len(steps):
            raise ConfigError(
                f"Pipeline {self.Id!r}: cannot put the sink {processor.Id!r} in front of "
                f"{self._step_ids[index]!r}; a sink ends the pipeline"
            )
        step, sid = self._adopt(processor)
        kept = self._counted_in()
        self._steps_src.insert(index, step)
        self._step_ids.insert(index, sid)
        for counts in self._per_step_counts():
            counts.insert(index, 0)
        self._rebase(kept)
        self._compile()

    def append_processor(self, processor: Step) -> None:
        """Append a processor, generator or sink at the end."""
        self._insert(len(self._steps_src), processor)

    def remove_processor(self, processor_id: str) -> Step:
        """Remove a processor by id and return it. Raises KeyError when there is none."""
        index = self._index_of(processor_id)
        if index is None:
            raise KeyError(f"Pipeline {self.Id!r}: no processor {processor_id!r}")
        kept = self._counted_in()
        removed = self._steps_src.pop(index)
        del self._step_ids[index]
        for counts in self._per_step_counts():
            del counts[index]
        self._rebase(kept)
        self._compile()
        return removed

    def insert_before(self, id: str, processor: Step) -> bool:
        """Insert ``processor`` in front of the processor ``id``; False when ``id`` is absent."""
        index = self._index_of(id)
        if index is None:
            return False
        self._insert(index, processor)
        return True

    def insert_after(self, id: str, processor: Step) -> bool:
        """Insert ``processor`` behind the processor ``id``; False when ``id`` is absent."""
        index = self._index_of(id)
        if index is None:
            return False
        self._insert(index + 1, processor)
        return True

    def _index_of(self, processor_id: str) -> int | None:
        try:
            return self._step_ids.index(processor_id)
        except ValueError:
            return None

    def processor_ids(self) -> tuple[str, ...]:
        """The ids of the processors in order (functions get their name, made unique)."""
        return tuple(self._step_ids)

    def iter_processors(self) -> Iterator[Step]:
        """The processors in order, the sink last."""
        return iter(list(self._steps_src))

    def iter_sources(self) -> Iterator[Source]:
        """The sources in the order they were set."""
        return iter(list(self._sources))

    def locate_source(self, address: str) -> Source | None:
        """The source with id ``address`` (or ``PipelineID.SourceID``), None when absent."""
        sid = address.split(".", 1)[1] if address.startswith(self.Id + ".") else address
        return next((s for s in self._sources if s.Id == sid), None)

    def locate_processor(self, processor_id: str) -> Step | None:
        """The processor with this id, None when absent."""
        index = self._index_of(processor_id)
        return None if index is None else self._steps_src[index]

    def locate_sink(self) -> Sink | None:
        """The sink at the end, None while the pipeline has none."""
        last = self._steps_src[-1] if self._steps_src else None
        return last if isinstance(last, Sink) else None

    @property
    def dead_letter(self) -> Sink | None:
        """The sink failed events are sent to (``set_dead_letter``), None when there is none."""
        return self._dead_letter

    def set_dead_letter(self, sink: Sink | None) -> None:
        """Send every failed event, as a ``Failure``, to ``sink`` (None: stop doing so).

        When the sink's ``process`` raises, the pipeline goes on: it is counted as
        ``dead_letter_error`` and failure listeners hear of it as a soft ``Failure`` of the
        dead-letter sink whose ``event`` is the ``Failure`` it could not take.
        """
        if sink is not None and sink.Pipeline is None:
            sink.attach(self)
        self._dead_letter = sink

    def _compile(self) -> None:
        """Turn the components into the tuple of callables the hot path runs."""
        steps: list[Callable[..., Any]] = []
        kinds: list[int] = []
        for step in self._steps_src:
            if isinstance(step, Sink):
                steps.append(step.process)
                kinds.append(_SINK)
            elif isinstance(step, Generator):
                steps.append(step.generate)
                kinds.append(_GEN)
            else:
                function = step.process if isinstance(step, Processor) else step
                kind = _KIND_OF_MODE[step_mode(step)]
                if kind > _SINK:
                    function = self._suspender(len(steps), function, kind == _ASYNC)
                steps.append(function)
                kinds.append(kind)
        if self._sink_tap is not None and kinds and kinds[-1] == _SINK:
            real, tap = steps[-1], self._sink_tap

            def tapped(context: Context, event: Any) -> None:
                tap(context, event)
                real(context, event)

            steps[-1] = tapped
        self._steps: tuple[Callable[..., Any], ...] = tuple(steps)
        self._kinds: tuple[int, ...] = tuple(kinds)
        self._ids: tuple[str, ...] = tuple(self._step_ids)
        # Async or blocking steps, by index (rule 5); an async one needs an executor.
        self._offloaded = tuple(i for i, k in enumerate(kinds) if k > _SINK)
        self._async_step = next((self._ids[i] for i in self._offloaded if kinds[i] == _ASYNC), None)
        # The fast path: no generators, no offloaded steps and a sink at the end (rule 2 needs no
        # bookkeeping there).
        self._fast = (
            bool(kinds) and kinds[-1] == _SINK and _GEN not in kinds and not self._offloaded
        )
        if self._fast:
            self._fast_fresh = fast_loop(self._steps, self._c_drop, fresh=True)
            self._fast_pairs = fast_loop(self._steps, self._c_drop, fresh=False)
        self._timed_components = tuple(
            (i, s) for i, s in enumerate(self._steps_src) if isinstance(s, Processor)
        )

    def set_sink_tap(self, tap: Callable[[Context, Any], None] | None) -> None:
        """Call ``tap(context, event)`` for each event just before the sink takes it (testing)."""
        self._sink_tap = tap
        self._compile()

    # ---------------------------------------------------------------- processing

    def process(self, event: Any, context: Context | None = None) -> None:
        """Process one event from the start of the pipeline up to the sink.

        Raises:
            PipelineStoppedError: the pipeline is stopped by a hard error (or by ``stop``).
        """
        self._check_open()
        if self._async_step is not None and self.Executor is None:
            self._refuse_unserved()
        self._n_in += 1
        self._run_from(0, {} if context is None else context, event, None)

    def process_events(self, events: Sequence[Any]) -> int:
        """Process events, each with a fresh context; return how many were taken.

        Fewer than ``len(events)`` are taken when the pipeline stops being ready part-way: a hard
        error (the last event taken failed) or throttling (a queue downstream filled up). The
        first ``n`` events were processed, the rest were not touched and stay the caller's.
        """
        return self.process_batch(events, None)

    def process_pairs(self, pairs: Sequence[tuple[Context, Any]]) -> int:
        """Like ``process_events`` for (context, event) pairs; returns how many were taken."""
        if not pairs:
            return 0
        return self.process_batch([e for _, e in pairs], [c for c, _ in pairs])

    def process_batch(self, events: Sequence[Any], contexts: Sequence[Context] | None) -> int:
        """The one entry point of every source: ``events`` with their ``contexts`` (parallel
        lists; None: a fresh context each). Returns how many were taken (see ``process_events``).
        """
        if self._error is not None or self._stopped or not events:
            return 0
        if self._async_step is not None and self.Executor is None:
            self._refuse_unserved()
        taken = 0
        if self._timer is not None:
            self._countdown -= len(events)
            if self._countdown <= 0:
                # One event in sample_every goes through the general path with the timer.
                self._countdown = self._sample_every
                self._n_in += 1
                self._run_from(0, {} if contexts is None else contexts[0], events[0], self._timer)
                taken = 1
                if not self._ready:
                    return taken
                events = events[1:]
                contexts = None if contexts is None else contexts[1:]
        if not self._fast:
            run_from = self._run_from
            for event, context in zip(events, contexts or map(dict.copy, repeat({})), strict=False):
                if not self._ready:
                    break
                self._n_in += 1
                run_from(0, context, event, None)
                taken += 1
            return taken
        assert self._fast_fresh is not None
        assert self._fast_pairs is not None
        if contexts is None:
            counts = self._fast_fresh(self, events, self._failed_in_fast)
        else:
            pairs = zip(events, contexts, strict=True)
            counts = self._fast_pairs(self, pairs, self._failed_in_fast)
        return taken + self._count_fast(*counts)

    def _failed_in_fast(self, index: int, exc: Exception, context: Context, event: Any) -> bool:
        """Step ``index`` of the fast loop raised: fail the event there; True when intake
        stopped."""
        self._fail(index, exc, context, event)
        return self._error is not None

    def _count_fast(self, n_out: int, n_drop: int, n_fail: int) -> int:
        self._n_out += n_out
        self._n_drop += n_drop
        taken = n_out + n_drop + n_fail
        self._n_in += taken
        return taken

    def inject(self, context: Context, event: Any, depth: int) -> None:
        """Process an event from step ``depth`` on (0 is the first processor).

        A generator or a component's out-of-band output enters here; the event counts as
        ``event.generated`` (of step ``depth - 1`` in ``component_statistics``).
        """
        self._count_generated(depth)
        self._run_from(depth, context, event, None)

    def _run_from(
        self, start: int, context: Context, event: Any, timer: Callable[[], float] | None
    ) -> None:
        steps, kinds = self._steps, self._kinds
        index = start
        for index in range(start, len(steps)):
            kind = kinds[index]
            t0 = timer() if timer is not None else 0.0
            try:
                if kind == _GEN:
                    outputs = list(steps[index](context, event))
                else:
                    result = steps[index](context, event)
            except Exception as exc:
                self._fail(index, exc, context, event)
                return
            finally:
                if timer is not None and kind <= _SINK:  # an offloaded step is not timed here
                    timing = self._timings.setdefault(self._ids[index], [0, 0.0])
                    timing[0] += 1
                    timing[1] += timer() - t0
            if kind == _SINK:
                self._n_out += 1
                return
            if kind == _GEN:
                self._n_abs += 1
                self._c_abs[index] += 1
                for output in outputs:
                    if type(output) is Held:  # kept from earlier events: their origin
                        self._emit_held(index + 1, output)
                        continue
                    self._n_gen += 1
                    self._c_gen[index] += 1
                    self._run_from(index + 1, context, output, timer)
                return
            if result is None:
                if kind > _SINK:
                    return  # suspended (rule 5), or finished by the suspender: not a drop
                self._n_drop += 1
                self._c_drop[index] += 1
                return
            event = result
        last = self._ids[-1] if self._ids else self.Id
        incomplete = IncompletePipelineError(
            f"Incomplete pipeline {self.Id!r}: event {event!r} is not consumed by a Sink "
            f"(the last component is {last!r})"
        )
        self._fail(len(steps) - 1 if steps else -1, incomplete, context, event)

    # ---------------------------------------------------------------- offloaded steps (rule 5)

    def _refuse_unserved(self, step_id: str | None = None) -> None:
        step_id = self._async_step if step_id is None else step_id
        raise TypeError(
            f"Pipeline {self.Id!r}: processor {step_id!r} is async (an async def); "
            "it needs an executor to await it: pumpcore_executors.run(pipeline, executor=...) or "
            "`async with pumpcore_executors.serving(pipeline)`"
        )

    def _suspender(
        self, index: int, function: Callable[[Context, Any], Any], is_async: bool
    ) -> Callable[[Context, Any], None]:
        """The callable the engine runs for an async or blocking step.

        It always returns None, and ``_run_from`` treats None from such a step as "taken care
        of" rather than as a drop: so the general path pays nothing for rule 5 on other steps.
        """

        def suspend(context: Context, event: Any) -> None:
            if self.Executor is not None:
                self._suspend(index, function, is_async, context, event)
            elif is_async:
                # Reached through inject, a tick or a generator with no executor: the event
                # fails (entry points refuse earlier, see _refuse_unserved).
                self._refuse_unserved(self._ids[index])
            else:
                result = function(context, event)  # blocking, no executor: inline
                if result is None:
                    self._n_drop += 1
                    self._c_drop[index] += 1
                else:
                    self._run_from(index + 1, context, result, None)

        return suspend

    def _suspend(
        self,
        index: int,
        function: Callable[[Context, Any], Any],
        is_async: bool,
        context: Context,
        event: Any,
    ) -> None:
        """Suspend an event at an async or blocking step: queue its call for the executor."""
        call = Offload(
            self,
            index,
            self._ids[index],
            function,
            is_async,
            context,
            event,
            self._seq_next,
            _current.get().hold(),
        )
        self._seq_next += 1
        self._queued.append(call)
        self._n_flight += 1
        if self._n_flight >= self._limit and not self._limited:
            self._limited = True
            self.throttle(self._limit_who, True)
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand queued calls to the executor while fewer than the limit run."""
        if self._dispatching:
            return  # an outer _dispatch further up the stack goes on with the queue
        self._dispatching = True
        try:
            while self._queued and len(self._running) < self._limit:
                link = self.Executor
                call = self._queued.popleft()
                self._running[call.sequence] = call
                if link is None:  # the executor left (it abandons what is in flight)
                    self.resume_failed(call, PipelineStoppedError("no executor runs the step"))
                    continue
                try:
                    link.offload(call)
                except Exception as exc:  # a broken executor must not lose the event
                    self.resume_failed(call, exc)
        finally:
            self._dispatching = False

    def resume(self, call: Offload, result: Any) -> None:
        """The executor finished an offloaded call: ``result`` continues from the next step
        (None drops the event), once every earlier suspended event has been passed on.

        Call it on the thread that owns the pipeline. A call that is not in flight (abandoned at
        ``stop_timeout``, or resumed already) is ignored.
        """
        self._settle(call, False, result)

    def resume_failed(self, call: Offload, exception: Exception) -> None:
        """The executor's offloaded call raised ``exception``: the event fails through the error
        policy, attributed to the step, in its turn (see ``resume``)."""
        self._settle(call, True, exception)

    def _settle(self, call: Offload, failed: bool, value: Any) -> None:
        if call.pipeline is not self:
            raise ValueError(f"{call!r} belongs to pipeline {call.pipeline.Id!r}, not {self.Id!r}")
        if self._running.pop(call.sequence, None) is not call:
            return  # abandoned, or resumed twice
        self._settled[call.sequence] = (call, failed, value)
        self._release()
        self._dispatch()

    def _release(self, force: bool = False) -> None:
        """Pass settled outcomes on in sequence order, as far as the sequence is complete and
        nobody but the limit throttles the pipeline (``force``: regardless of throttling)."""
        if self._releasing:
            return  # the loop further up the stack picks it up; keeps the stack flat
        self._releasing = True
        try:
            settled = self._settled
            while settled:
                if self._throttles and not force and self._throttled_by_others():
                    break  # backpressure: throttle() releases again once it is lifted
                entry = settled.pop(self._seq_release, None)
                if entry is None:
                    break
                self._seq_release += 1
                self._n_flight -= 1
                call, failed, value = entry
                token = _current.set(call.origin)  # what it derives is held against its marks
                try:
                    if failed:
                        self._fail(call.index, value, call.context, call.event)
                    elif value is None:
                        self._n_drop += 1
                        self._c_drop[call.index] += 1
                    else:
                        self._run_from(call.index + 1, call.context, value, None)
                finally:
                    _current.reset(token)
                    call.origin.release()
        finally:
            self._releasing = False
            if self._limited and self._n_flight < self._limit:
                self._limited = False
                self.throttle(self._limit_who, False)

    def _throttled_by_others(self) -> bool:
        limit_who = self._limit_who
        return any(who is not limit_who for who in self._throttles)

    def running_calls(self) -> int:
        """Offloaded calls the executor has yet to answer (queued or running): unlike results
        held back by backpressure, these complete without anything else happening."""
        return len(self._queued) + len(self._running)

    def in_flight(self) -> int:
        """Events suspended at async or blocking steps: queued, running, or finished and waiting
        for an earlier one to be passed on."""
        return self._n_flight

    def abandon_in_flight(self, exception: Exception) -> int:
        """Fail every event in flight with ``exception`` (through the error policy, in sequence
        order) — for an executor that gives up on them at ``stop_timeout``. Results that arrive
        later for these calls are ignored. Returns how many were abandoned."""
        calls = [*self._queued, *self._running.values()]
        self._queued.clear()
        self._running.clear()
        for call in calls:
            call.origin.fail()  # not processed, whatever the policy says: never acknowledged
            self._settled[call.sequence] = (call, True, exception)
        self._release(force=True)
        return len(calls)

    # ---------------------------------------------------------------- errors

    def handle_error(self, exception: Exception, context: Context, event: Any) -> bool:
        """Decide what a failure means: True for soft (drop and go on), False for hard (stop).

        Override it in a subclass, or pass ``error_policy`` to the constructor.
        """
        policy = self._error_policy
        if policy == "soft":
            return True
        if policy == "hard":
            return False
        return bool(policy(exception, context, event))

    def _fail(self, index: int, exc: Exception, context: Context, event: Any) -> None:
        component_id = self._ids[index] if 0 <= index < len(self._ids) else self.Id
        origin = _current.get()
        if origin and all(mark.source.isolate_failures for mark in origin):
            soft = True  # one client's bad input is that input's failure, not the pipeline's
        else:
            try:
                soft = self.handle_error(exc, context, event)
            except Exception:
                soft = False  # a broken policy must not lose the event: stop, let a human look
        failure = Failure(self.Id, component_id, context, event, exc, soft)
        per_step = self._c_warn if soft else self._c_err
        if 0 <= index < len(per_step):
            per_step[index] += 1
        if soft:
            self._n_warn += 1
        else:
            self._n_err += 1
            self._error = failure
            origin.fail()  # never acknowledged, nor anything after it from the same source
            self._evaluate_ready()
        self._dead_letter_and_tell(failure, context)

    def reject(self, source_id: str, raw: Any, reason: str, context: Context) -> None:
        """A source could not turn an input into an event (``pumpcore.lowlevel.Rejected``).

        Counted as ``rejected`` (never in ``event_in``: it never became an event), handed to
        the dead-letter sink and the failure listeners as a soft ``Failure`` whose exception is
        a ``RejectedInputError``; its position is done with its batch. The error policy is not
        asked: the adapter has already decided that this input, not the pipeline, is at fault.
        """
        self._n_rej += 1
        failure = Failure(self.Id, source_id, context, raw, RejectedInputError(reason), True)
        self._dead_letter_and_tell(failure, context)

    def _dead_letter_and_tell(self, failure: Failure, context: Context) -> None:
        """Hand ``failure`` to the dead-letter sink (if any) and the failure listeners. A
        dead-letter sink that raises is counted (``dead_letter_error``) and its listeners told;
        the input's marks fail, so its position is never acknowledged: nothing escapes into the
        batch being processed (its counters are local until the batch ends)."""
        dead_letter_failure: Failure | None = None
        if self._dead_letter is not None:
            try:
                self._dead_letter.process(context, failure)
            except Exception as dead_exc:
                self._n_dead_err += 1
                _current.get().fail()
                dead_letter_failure = Failure(
                    self.Id, self._dead_letter.Id, context, failure, dead_exc, True
                )
            else:
                self._n_dead += 1
        for listener in list(self._failure_listeners):
            listener(failure)
            if dead_letter_failure is not None:
                listener(dead_letter_failure)

    def report_source_failure(self, source_id: str, exc: Exception) -> bool:
        """A source failed outside of any event (its ``cycle`` raised, a connection broke).

        The error policy decides as for events (with ``event`` None) — unless the source
        isolates its own failures (``Source.isolate_source_failures``: a refused poll), which
        are always soft. The failure is counted as ``source_error``, not among the event
        counters. Returns True when it was soft.
        """
        source = self.locate_source(source_id)
        try:
            soft = (source is not None and source.isolate_source_failures) or self.handle_error(
                exc, {}, None
            )
        except Exception:
            soft = False
        self._n_src_err += 1
        failure = Failure(self.Id, source_id, {}, None, exc, soft)
        if not soft:
            self._error = failure
            self._evaluate_ready()
        for listener in list(self._failure_listeners):
            listener(failure)
        return soft

    def remove_failure_listener(self, listener: Callable[[Failure], None]) -> None:
        """Stop calling ``listener``."""
        if listener in self._failure_listeners:
            self._failure_listeners.remove(listener)

    def is_error(self) -> bool:
        """True while a hard error stops the pipeline."""
        return self._error is not None

    @property
    def last_error(self) -> Failure | None:
        """The hard failure that stopped the pipeline, None when it runs."""
        return self._error

    def set_error(self, context: Context | None, event: Any, exc: Exception | None) -> None:
        """With ``exc``: stop the pipeline as a hard error would. With None: recover it."""
        if exc is None:
            self._error = None
        else:
            # Not counted as `error`: no event failed (rule 2 counts events, not incidents).
            self._error = Failure(self.Id, self.Id, context or {}, event, exc, False)
        self._evaluate_ready()

    def recover(self) -> None:
        """Clear a hard error so the pipeline takes events again."""
        self.set_error(None, None, None)

    def add_failure_listener(self, listener: Callable[[Failure], None]) -> None:
        """Call ``listener(failure)`` after each failed event (executors log from here)."""
        self._failure_listeners.append(listener)

    def _check_open(self) -> None:
        if self._stopped:
            raise PipelineStoppedError(f"pipeline {self.Id!r} is stopped")
        if self._error is not None:
            err = self._error
            raise PipelineStoppedError(
                f"pipeline {self.Id!r} is stopped by an error in {err.component_id!r}: "
                f"{err.exception!r}; call recover() to resume"
            )

    # ---------------------------------------------------------------- readiness

    def throttle(self, who: object, enable: bool = True) -> None:
        """Throttle (or release) this pipeline and its linked ancestors on behalf of ``who``."""
        if enable:
            self._throttles.add(who)
        else:
            self._throttles.discard(who)
        self._evaluate_ready()
        if not enable and self._settled:
            self._release()  # results held back by backpressure may go on now (rule 5)
        for ancestor in self._ancestors:
            ancestor.throttle(who, enable)

    def throttle_ancestors(self, who: object, enable: bool = True) -> None:
        """Throttle (or release) only the pipelines linked as this one's ancestors.

        A full ``InternalSource`` uses it: its feeders must pause while it keeps draining.
        """
        for ancestor in self._ancestors:
            ancestor.throttle(who, enable)

    def get_throttles(self) -> frozenset[object]:
        """Who throttles this pipeline now."""
        return frozenset(self._throttles)

    def link(self, ancestral_pipeline: Pipeline) -> None:
        """Make ``ancestral_pipeline`` feel this pipeline's throttling (it feeds this one)."""
        if ancestral_pipeline is self or ancestral_pipeline in self._ancestors:
            return
        self._ancestors.append(ancestral_pipeline)
        for who in self._throttles:
            ancestral_pipeline.throttle(who, True)

    def unlink(self, ancestral_pipeline: Pipeline) -> None:
        """Undo ``link``: the ancestor no longer feels this pipeline's throttling."""
        if ancestral_pipeline not in self._ancestors:
            return
        self._ancestors.remove(ancestral_pipeline)
        for who in self._throttles:
            ancestral_pipeline.throttle(who, False)

    def is_ready(self) -> bool:
        """True when sources may produce: not throttled, not stopped by an error."""
        return self._ready

    def add_ready_listener(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(ready)`` whenever readiness changes (executors wake sources here)."""
        self._ready_listeners.append(listener)

    def remove_ready_listener(self, listener: Callable[[bool], None]) -> None:
        """Stop calling ``listener``."""
        if listener in self._ready_listeners:
            self._ready_listeners.remove(listener)

    def _evaluate_ready(self) -> None:
        ready = not self._throttles and self._error is None and not self._stopped
        if ready != self._ready:
            self._ready = ready
            for listener in list(self._ready_listeners):
                listener(ready)

    # ---------------------------------------------------------------- time

    def time(self) -> float:
        """The pipeline's time: the ``now`` of the latest ``tick`` (BSPump's ``Pipeline.time``)."""
        return self._now

    def set_timer(self, timer: Callable[[], float] | None) -> None:
        """Give the pipeline a monotonic timer for sampling component time (None: no sampling)."""
        self._timer = timer

    def next_awake(self) -> float | None:
        """The earliest time a component wants ``tick``, None when none does."""
        wakes = [w for _, c in self._timed_components if (w := c.next_awake()) is not None]
        return min(wakes) if wakes else None

    def tick(self, now: float) -> None:
        """Advance the pipeline's time to ``now`` and let due components emit."""
        if now > self._now:
            self._now = now
        for index, component in self._timed_components:
            wake = component.next_awake()
            if wake is not None and wake <= now:
                self._emit_from(index, component.on_tick(now))

    def _emit_from(self, index: int, emitted: Iterable[tuple[Context, Any] | Held]) -> None:
        for item in emitted:
            if type(item) is Held:
                self._emit_held(index + 1, item)
            else:
                self.inject(item[0], item[1], index + 1)

    def _emit_held(self, depth: int, held: Held) -> None:
        """Run an event a component kept, under the origin it held, then release that."""
        token = _current.set(held.origin)
        try:
            self._count_generated(depth)
            self._run_from(depth, held.context, held.event, None)
        finally:
            _current.reset(token)
            held.origin.release()

    def stop(self, now: float | None = None) -> None:
        """Stop intake and flush what components hold (aggregates), in pipeline order.

        Sinks' own ``flush`` is the executor's to call: it may do I/O. An executor whose
        offloaded steps complete later uses ``stop_step`` instead.
        """
        self.stop_step(now)

    def stop_step(self, now: float | None = None) -> bool:
        """``stop`` as far as it can go now: True once every component was stopped; False when
        what a component emitted is in flight at an async or blocking step. Call it again once
        ``running_calls()`` is 0, so that the components after that step (a second aggregator)
        still get the event before their own ``on_stop``.
        """
        if now is not None and now > self._now:
            self._now = now
        if not self._stopped:
            self._stopped = True
            self._evaluate_ready()
        components = self._timed_components
        while self._stop_index < len(components):
            index, component = components[self._stop_index]
            self._stop_index += 1
            self._emit_from(index, component.on_stop(self._now))
            if self.running_calls():
                return False
        self._stop_index = len(components) + 1  # done, whatever is added later
        return True

    def stop_finished(self) -> bool:
        """True once ``stop`` reached the end of the pipeline."""
        return self._stop_index > len(self._timed_components)

    def is_stopped(self) -> bool:
        """True after ``stop``."""
        return self._stopped

    # ---------------------------------------------------------------- statistics

    def statistics(self) -> PipelineStatistics:
        """A frozen snapshot of the counters and sampled timings.

        Safe to call from another thread (a status line): the timings dict is copied in one step.
        """
        timings = dict(self._timings)
        return PipelineStatistics(
            pipeline_id=self.Id,
            event_in=self._n_in,
            event_out=self._n_out,
            event_drop=self._n_drop,
            warning=self._n_warn,
            error=self._n_err,
            event_generated=self._n_gen,
            event_absorbed=self._n_abs,
            dead_letter=self._n_dead,
            dead_letter_error=self._n_dead_err,
            source_error=self._n_src_err,
            rejected=self._n_rej,
            timings={k: ProcessorTiming(int(v[0]), v[1]) for k, v in timings.items()},
        )

    def _count_generated(self, depth: int) -> None:
        """An event created outside ``_run_from``'s generator path enters at step ``depth``."""
        self._n_gen += 1
        if depth <= 0 or not self._c_gen:
            self._n_gen0 += 1
        else:
            self._c_gen[min(depth, len(self._c_gen)) - 1] += 1

    def _per_step_counts(self) -> tuple[list[int], ...]:
        return self._c_drop, self._c_warn, self._c_err, self._c_gen, self._c_abs, self._c_base

    def _counted_in(self) -> dict[str, int]:
        return {cid: c.event_in for cid, c in self.component_statistics().items()}

    def _rebase(self, kept: Mapping[str, int]) -> None:
        """After a change of structure: each step keeps the ``event_in`` it had (``kept``), a
        new one starts at 0. A removed step's other counts leave with it."""
        base = self._c_base
        for k in range(len(base)):
            base[k] = 0
        derived = self.component_statistics()
        for k, cid in enumerate(self._step_ids):
            # A correction at k shifts every step behind it as much: correct in order.
            derived = self.component_statistics() if k else derived
            base[k] = kept.get(cid, 0) - derived[cid].event_in

    def component_statistics(self) -> dict[str, ComponentStatistics]:
        """A frozen snapshot of each processor's (and the sink's) counters, in pipeline order.

        Drops, failures and generators' counts are kept per step on their own paths; each
        step's ``event_in`` is what the step before it passed on (the first step's: the
        pipeline's ``event_in``) and its ``event_out`` what is left of that, so each component
        balances and the sums over components are the pipeline's (``ComponentStatistics``).
        Events suspended at an async or blocking step are its ``in_flight``.
        """
        ids = list(self._step_ids)
        n = len(ids)
        drop, warn, err = list(self._c_drop), list(self._c_warn), list(self._c_err)
        gen, absorbed, base = list(self._c_gen), list(self._c_abs), list(self._c_base)
        flight = [0] * n
        calls = [*self._queued, *self._running.values(), *(e[0] for e in self._settled.values())]
        for call in calls:
            if 0 <= call.index < n:
                flight[call.index] += 1
        result: dict[str, ComponentStatistics] = {}
        passed = self._n_in + self._n_gen0
        for k in range(min(n, len(drop))):
            entered = passed + base[k]
            passed = entered + gen[k] - drop[k] - warn[k] - err[k] - absorbed[k] - flight[k]
            result[ids[k]] = ComponentStatistics(
                component_id=ids[k],
                event_in=entered,
                event_out=passed,
                event_drop=drop[k],
                warning=warn[k],
                error=err[k],
                event_generated=gen[k],
                event_absorbed=absorbed[k],
                in_flight=flight[k],
            )
        return result

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.Id!r}>"
