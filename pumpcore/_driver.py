"""Driver: the scheduling decisions of a run, as a pure state machine.

The run machine (``pumpcore/_machine.py``) owns a run's lifecycle and asks the driver what is
due: ``step(now)`` ticks pipelines, pumps a round, fires due triggers and says which reads to
start; ``next_wake()`` says when something is next scheduled; ``finished()`` whether anything is
left; ``stop``/``stop_next`` stop the pipelines feeders first. Keeping these decisions in one
place is what makes every executor produce the same outputs.

Rules:
1. Sources of a pipeline that is not ready are never pumped and its triggers never fire: the
   executor waits for readiness instead (readiness listeners tell it when).
2. Pumping is round-robin over pipelines in the order given, sources in pipeline order, at most
   ``batch_size`` events per source per round: a busy source cannot starve the others.
3. The run is finished when every active source is done (finite sources exhausted, triggers
   finished and not cycling, no read in progress) or blocked by a hard error, no queue between
   pipelines holds an event, and no event is in flight at an async or blocking step.
4. A trigger whose cycles are still running (``fire`` returned them, ``cycle_done`` not yet
   called) does not fire again: a source's cycles never overlap, so its order is kept.
5. After ``request_stop`` nothing new enters: no trigger fires, no read starts; only what is
   already in the run is pumped — queues between pipelines, and events I/O sources read
   (reads under way included) — so nothing read is dropped. What a pipeline cannot take any
   more (it is stopped by a hard error, throttled for good) is counted by ``unprocessed()``.
   ``stop`` then stops the pipelines feeders first, draining the queues between them, so what
   an aggregator flushes still reaches a sink. An executor whose async or blocking steps
   complete later stops pipelines step by step (``stop_next``) and waits, between them, until
   ``running_calls()`` is 0 — or gives up at its ``stop_timeout`` with ``abandon``.
6. Commits (``pumpcore/_io_source.py``, ``pumpcore/_delivery.py``): positions are committed per
   source by completed prefix, whenever ``commit_every`` were taken or the executor is idle —
   never waiting for the whole run to be quiet. Receipts (events application code waits for)
   that are done are taken by the next commit, and make the idle executor commit. A hard failure
   or an abandoned event holds back only the source(s) it came from; a failed flush poisons the
   sources feeding that sink.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from ._component import Sink, Source
from ._delivery import Receipt
from ._errors import ConfigError
from ._io_source import IOSource
from ._pipeline import Pipeline
from ._pump import Pump
from ._trigger_source import TriggerSource
from .trigger._base import Trigger


@attrs.frozen
class Work:
    """What one ``Driver.step`` asks of the executor.

    Attributes:
        taken: events the round took from sources.
        cycles: triggers fired, each with the sources whose ``cycle`` the executor must run (in
            order), after which it calls ``Driver.cycle_done(trigger, now)``.
        reads: IO sources to read from (``begin_read`` was called; the executor calls ``read``
            with the returned size and hands the result to ``feed`` or ``read_failed``).
    """

    taken: int
    cycles: tuple[tuple[Trigger, tuple[TriggerSource, ...]], ...] = ()
    reads: tuple[IOSource, ...] = ()

    @property
    def progressed(self) -> bool:
        """True when the step did anything (the executor then steps again at once)."""
        return bool(self.taken or self.cycles or self.reads)


@attrs.frozen
class Commit:
    """Positions to acknowledge, per source, each in read order, and the receipts to settle
    once the flushes returned (rule 6)."""

    acks: tuple[tuple[IOSource, tuple[Any, ...]], ...]
    receipts: tuple[Receipt, ...] = ()


class Driver:
    """Decides what runs next for a set of pipelines.

    Args:
        pipelines: the pipelines to drive; they are put in one ``Pump`` if they have none.
        batch_size: the most events one ``pump`` call may take from a source.
        commit_every: commit once this many positions are processed (sooner when idle).
    """

    def __init__(
        self, pipelines: Iterable[Pipeline] | Pump, batch_size: int = 256, commit_every: int = 1000
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"Driver: batch_size must be >= 1, got {batch_size!r}")
        self.batch_size = batch_size
        if commit_every < 1:
            raise ConfigError(f"Driver: commit_every must be >= 1, got {commit_every!r}")
        self.commit_every = commit_every
        listed = list(pipelines)
        if not listed:
            raise ConfigError("Driver: no pipelines to run")
        pump = pipelines if isinstance(pipelines, Pump) else None
        if pump is None:
            pump = next((p.Pump for p in listed if p.Pump is not None), None) or Pump()
            for pipeline in listed:
                pump.add_pipeline(pipeline)
        self.pump = pump
        self.pipelines: tuple[Pipeline, ...] = tuple(listed)
        self._pull: list[Source] = []
        self._passive: list[Source] = []
        self._drainable: list[Source] = []  # what stopping still pumps (rule 5)
        self._io: list[IOSource] = []
        self._triggers: dict[Trigger, list[TriggerSource]] = {}
        for pipeline in self.pipelines:
            for source in pipeline.iter_sources():
                if isinstance(source, TriggerSource):
                    if not source.triggers:
                        raise ConfigError(
                            f"TriggerSource {source.locate_address()!r} has no trigger; "
                            "call .on(trigger)"
                        )
                    for trigger in source.triggers:
                        self._triggers.setdefault(trigger, []).append(source)
                else:
                    self._pull.append(source)
                    if source.passive:
                        self._passive.append(source)
                    if isinstance(source, IOSource):
                        self._io.append(source)
                    if source.passive or isinstance(source, IOSource):
                        self._drainable.append(source)
        self._busy: set[Trigger] = set()
        self._started = False
        self.stopping = False
        self._uncommitted = 0
        self._out_at_commit = 0

    def start(self, now: float) -> None:
        """Start every trigger's schedule and every pipeline's time at ``now``."""
        for pipeline in self.pipelines:
            pipeline.tick(now)
        for trigger in self._triggers:
            trigger.start(now)
        self._started = True

    @property
    def triggers(self) -> Sequence[Trigger]:
        """Every trigger, each once."""
        return tuple(self._triggers)

    @property
    def io_sources(self) -> Sequence[IOSource]:
        """The sources that read through the executor."""
        return tuple(self._io)

    def sources_of(self, trigger: Trigger) -> Sequence[TriggerSource]:
        """The trigger sources a trigger runs."""
        return tuple(self._triggers.get(trigger, ()))

    # ---------------------------------------------------------------- one step

    def step(self, now: float) -> Work:
        """Tick, choose reads, pump a round, fire due triggers: everything due at ``now``.

        Reads are chosen before the round pumps what was read last, so that an executor that
        reads in another thread or task reads the next batch while this one is processed.
        """
        self.tick(now)
        reads: tuple[IOSource, ...] = ()
        if not self.stopping:
            reads = tuple(s for s in self._io if _ready(s) and s.wants_read(now))
            for source in reads:
                source.begin_read()
        taken = self.pump_round()
        if self.stopping:
            return Work(taken)
        cycles = []
        for trigger in self.due_triggers(now):
            trigger.fire(now)
            self._busy.add(trigger)
            cycles.append((trigger, tuple(s for s in self._triggers[trigger] if _ready(s))))
        return Work(taken, tuple(cycles), reads)

    def cycle_done(self, trigger: Trigger, now: float) -> None:
        """The cycles a firing started are over (rule 4)."""
        self._busy.discard(trigger)
        trigger.cycle_done(now)

    def pumpable(self) -> list[Source]:
        """Sources with events ready whose pipeline is ready (rules 1 and 5)."""
        sources = self._drainable if self.stopping else self._pull
        return [s for s in sources if s.has_pending() and _ready(s)]

    def pump_round(self) -> int:
        """Pump every pumpable source once (rule 2); return how many events were taken."""
        taken = 0
        for source in self.pumpable():
            taken += source.pump(self.batch_size)
        self._uncommitted += taken
        return taken

    def due_triggers(self, now: float) -> list[Trigger]:
        """Triggers due at ``now``, not cycling, with a source whose pipeline is ready."""
        due: list[Trigger] = []
        if self.stopping:
            return due
        for trigger, sources in self._triggers.items():
            at = trigger.next_fire_at()
            if (
                at is not None
                and at <= now
                and trigger not in self._busy
                and any(_ready(s) for s in sources)
            ):
                due.append(trigger)
        return due

    def tick(self, now: float) -> None:
        """Let each pipeline's time-driven components (aggregator timeouts) act."""
        for pipeline in self.pipelines:
            wake = pipeline.next_awake()
            if pipeline.time() < now or (wake is not None and wake <= now):
                pipeline.tick(now)

    def next_wake(self) -> float | None:
        """The earliest moment something is scheduled; None when nothing is."""
        wakes: list[float] = []
        if not self.stopping:
            for trigger, sources in self._triggers.items():
                at = trigger.next_fire_at()
                if at is not None and trigger not in self._busy and any(_ready(s) for s in sources):
                    wakes.append(at)
            for source in self._pull:
                at = source.next_awake()
                if at is not None:
                    wakes.append(at)
        for pipeline in self.pipelines:
            at = pipeline.next_awake()
            if at is not None:
                wakes.append(at)
        return min(wakes) if wakes else None

    def finished(self) -> bool:
        """True when nothing is left to do (rule 3)."""
        if self.in_flight():
            return False
        for source in self._pull:
            if source.has_pending() and not _blocked(source):
                return False
            if not source.passive and not source.exhausted() and not _blocked(source):
                return False
        for trigger, sources in self._triggers.items():
            if trigger in self._busy:
                return False
            if not trigger.finished() and not all(_blocked(s) for s in sources):
                return False
        return True

    def unprocessed(self) -> dict[str, int]:
        """Events read or queued that no pipeline took, per pipeline id (only those with any):
        after the stop sequence, what the run could not drain (rule 5)."""
        left: dict[str, int] = {}
        for source in self._pull:
            n = source.buffered()
            if n and source.Pipeline is not None:
                left[source.Pipeline.Id] = left.get(source.Pipeline.Id, 0) + n
        return left

    def running_calls(self) -> int:
        """Offloaded calls executors have yet to answer, over every pipeline."""
        return sum(p.running_calls() for p in self.pipelines)

    def in_flight(self) -> int:
        """Events suspended at async or blocking steps, over every pipeline."""
        return sum(p.in_flight() for p in self.pipelines)

    # ---------------------------------------------------------------- commits

    def _events_out(self) -> int:
        return sum(pipeline._n_out + pipeline._n_dead for pipeline in self.pipelines)

    def commit_due(self, idle: bool) -> bool:
        """True when positions were taken, or events reached sinks, since the last commit, and
        ``commit_every`` of them were, or the executor is idle (rule 6). No quiet moment is
        needed: what is held back waits in its own marks. Runs without I/O sources get flush
        points too, so a buffering sink behind a trigger source writes as it goes."""
        pending = self._uncommitted if self._io else 0
        unflushed = self._events_out() - self._out_at_commit
        if pending == 0 and unflushed == 0:
            return idle and self._receipts_done()
        return idle or max(pending, unflushed) >= self.commit_every

    def _receipts_done(self) -> bool:
        # An event put with wait=True that was dropped reached no sink: commit for it all the same.
        return any(r.done for s in self._passive if s.receipts for r in s.receipts)

    def take_commit(self) -> Commit:
        """The positions done since the last commit, per source (``Ledger.take_done``); the
        executor flushes every sink, then acknowledges them (or calls ``flush_failed``)."""
        self._uncommitted = 0
        self._out_at_commit = self._events_out()
        acks = []
        for source in self._io:
            positions = source.ledger.take_done()
            if positions:
                acks.append((source, tuple(positions)))
        receipts: list[Receipt] = []
        for passive in self._passive:
            if passive.receipts:
                receipts += (r for r in passive.receipts if r.done)
                # A failed receipt's waiter sees it failed; it needs no commit.
                passive.receipts[:] = [r for r in passive.receipts if r.holds and not r.failed]
        return Commit(tuple(acks), tuple(receipts))

    def sinks(self) -> list[tuple[Pipeline, Sink]]:
        """What a commit flushes: every pipeline's sink and dead-letter sink, each once (with
        the first pipeline that has it)."""
        found: list[tuple[Pipeline, Sink]] = []
        for pipeline in self.pipelines:
            for sink in (pipeline.locate_sink(), pipeline.dead_letter):
                if sink is not None and all(sink is not s for _, s in found):
                    found.append((pipeline, sink))
        return found

    def flush_failed(self, sink: Sink) -> None:
        """``sink`` failed to write: what it had buffered may be lost, so the sources feeding
        it — those of every pipeline that ends in it or dead-letters into it, and of the
        pipelines routing into those — acknowledge nothing more in this run. Others go on."""
        feeders = {p for p in self.pipelines if sink is p.locate_sink() or sink is p.dead_letter}
        frontier = list(feeders)
        while frontier:
            for ancestor in frontier.pop()._ancestors:
                if ancestor not in feeders:
                    feeders.add(ancestor)
                    frontier.append(ancestor)
        for source in self._io:
            if source.Pipeline in feeders:
                source.ledger.poisoned = True

    # ---------------------------------------------------------------- stopping

    def request_stop(self) -> None:
        """Take no new input from now on; only queues between pipelines are drained (rule 5)."""
        self.stopping = True

    def stop_order(self) -> list[Pipeline]:
        """The pipelines, feeders before the pipelines they route into (given order otherwise)."""
        remaining = list(self.pipelines)
        order: list[Pipeline] = []
        while remaining:
            for pipeline in remaining:
                # _ancestors: the pipelines that route into this one (linked by routers).
                if all(a in order or a not in remaining for a in pipeline._ancestors):
                    break
            else:
                pipeline = remaining[0]  # a routing cycle: fall back to the given order
            remaining.remove(pipeline)
            order.append(pipeline)
        return order

    def drain(self) -> None:
        """Pump the queues between pipelines until they are empty or can go no further."""
        self.stopping = True
        while self.pump_round():
            pass

    def stop(self, now: float) -> None:
        """Stop every pipeline, feeders first, draining queues so flushed aggregates arrive."""
        self.request_stop()
        self.drain()
        while self.stop_next(now):
            self.drain()

    def stop_next(self, now: float) -> bool:
        """Stop the next pipeline in ``stop_order`` that is not stopped; False when none is left.

        For executors whose offloaded steps complete later: drain and wait for
        ``running_calls()`` to reach 0 before each call (rule 5); a pipeline whose stop emitted
        an event into an async step is stopped the rest of the way by the next call.
        """
        self.request_stop()
        for pipeline in self.stop_order():
            if not pipeline.stop_finished():
                pipeline.stop_step(now)  # part-way while an emitted event is in flight
                return True
        return False

    def abandon(self, exception: Exception) -> int:
        """Fail every event still in flight (``Pipeline.abandon_in_flight``): counted,
        dead-lettered, and their marks failed, so their positions are never acknowledged.
        Returns how many."""
        abandoned = 0
        for pipeline in self.pipelines:
            abandoned += pipeline.abandon_in_flight(exception)
        return abandoned


def _ready(source: Source) -> bool:
    return source.Pipeline is not None and source.Pipeline.is_ready()


def _blocked(source: Source) -> bool:
    pipeline = source.Pipeline
    return pipeline is None or pipeline.is_error() or pipeline.is_stopped()


def is_async_cycle(source: TriggerSource) -> bool:
    """True when the source's ``cycle`` is an ``async def`` (it needs an async executor)."""
    return inspect.iscoroutinefunction(source.cycle)
