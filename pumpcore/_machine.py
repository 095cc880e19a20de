"""The run machine: a run's whole lifecycle as one sans-IO state machine.

Every executor used to write its own loop — open, read, process, flush, acknowledge, "is the run
over?", settle, stop, close — and they drifted apart. Here it is written once. The machine does
everything that is pure itself (pumping sources into pipelines, firing triggers, choosing commit
points, the stop sequence) and hands out *commands* for what needs I/O or time; an executor only
interprets them, each where its model says (inline, in a worker thread, as a task), and reports
each outcome back. Like h11's connection: fed results, asked for what next.

Rules:
1. ``poll(now, real)`` does all that is due and returns a ``Step``: the commands to start now,
   whether to poll again at once (``again``: events were taken, so more may be due), and when
   to wake otherwise (``wake``: clock time; ``real_wake``: monotonic time, for the stop budget).
   Between polls the executor waits for the earliest wake or for any outcome it reports.
2. Every command but ``Serve`` is answered exactly once, on the thread that polls: ``done(cmd,
   now, result)`` or ``failed(cmd, now, exc)``. ``Serve`` runs until ``StopServing``; it is
   answered only if it fails.
3. Phases, in order: ``opening`` (sinks, then sources, then lookups load, then servers start),
   ``running``, ``stopping`` (no new input; what runs drains; pipelines stop feeders first),
   ``closing`` (final flush, acknowledgements, servers stop, sinks close, sources close),
   ``done``.
   Every executor closes in this order.
4. Commits: when ``commit_every`` positions were taken (or events reached sinks), or the
   executor is idle, the machine takes what is done per source (``Ledger.take_done``), asks for
   every sink to be flushed (``Flush``) — pumping nothing meanwhile, so no event reaches a sink
   during a flush — then, if the flushes succeeded, for the acknowledgements (``Acknowledge``,
   in read order per source). A commit's acknowledgements are answered before the next commit
   starts, so a source sees its acknowledgements in order. The commit's receipts (events
   application code waits for, ``pumpcore/_delivery.py`` rule 6) are committed with them, or
   failed if any flush of the commit failed.
5. The run ends by itself (``stop``-less) when nothing is left to do (``Driver.finished``), or
   when nothing runs, nothing is scheduled and yet it is not finished (a pipeline throttled for
   good): no event could ever come. A machine made with ``serving=True`` never ends by itself:
   the host (``serving()``), a ``RunHandle`` or ``stop_after`` ends it — what a run fed only by
   other threads (``run(..., until_stopped=True)``) needs, since its queues look idle.
6. The stop sequence is bounded by ``stop_timeout`` seconds of real time (``real``): what still
   runs then is abandoned (its events fail, their positions are never acknowledged), flushes
   and acknowledgements not answered by then count as failed. Events read or queued that were
   never taken (``Driver.unprocessed``) are left for the executor to report.
7. A source or sink that fails to open is fatal: the machine closes what was opened and ends;
   ``error`` holds the exception for the executor to raise.
8. Lookups (``pumpcore/lookup``): while opening, once sinks and sources are open and before any
   server starts or any event is processed, every lookup of the run's ``Pump`` with a provider
   that is not lazy is loaded (``Load``, answered with what the provider returned, which the
   machine hands to ``Lookup.loaded`` on the polling thread). One that fails is fatal as in rule
   7 (``LookupLoadError``) unless it is optional. While running, a lookup is loaded again each
   time its ``refresh`` trigger is due (its time is part of ``wake``); a firing due when the
   load at start was answered is that load. A lookup never has two loads at once; a failed
   refresh is counted and the table kept. No refresh starts once stopping, and a refresh
   schedule never keeps a run from ending.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import attrs

from ._component import Sink
from ._delivery import Receipt
from ._driver import Driver
from ._errors import ConfigError, LookupLoadError, PipelineStoppedError
from ._io_source import AsyncSink, AsyncSource, BlockingSink, IOSource, flush_is_noop, has_serve
from ._pipeline import Pipeline
from ._pump import Pump
from ._trigger_source import TriggerSource
from .lookup._mapping import Lookup, is_async_provider
from .trigger._base import Trigger

Phase = Literal["new", "opening", "running", "stopping", "closing", "done"]
Part = Sink | IOSource


@attrs.frozen(eq=False)
class Open:
    """Open a sink (``open``/``aopen``) or an I/O source (``open``)."""

    part: Part


@attrs.frozen(eq=False)
class Serve:
    """Start an ``AsyncSource``'s ``serve`` in the background (a server); never answered unless
    it fails."""

    source: AsyncSource


@attrs.frozen(eq=False)
class Read:
    """Read up to ``max_items`` from ``source``; answer with what ``read`` returned."""

    source: IOSource
    max_items: int


@attrs.frozen(eq=False)
class Cycle:
    """Run the ``cycle`` of each source a trigger fired, in order; answer with the failures as
    ``[(source, exception), ...]`` (a failing cycle does not stop the others)."""

    trigger: Trigger
    sources: tuple[TriggerSource, ...]


@attrs.frozen(eq=False)
class Flush:
    """Make what ``sink`` buffered durable (``flush``/``aflush``); fail if it is not."""

    pipeline: Pipeline
    sink: Sink


@attrs.frozen(eq=False)
class Acknowledge:
    """Acknowledge ``positions`` (in read order) to ``source``."""

    source: IOSource
    positions: tuple[Any, ...]


@attrs.frozen(eq=False)
class Load:
    """Load ``lookup`` (rule 8): call ``function`` — the provider's ``load`` — where blocking is
    allowed, or await it when ``is_async``; answer with what it returned (never apply it to the
    lookup from another thread: the machine does, on the polling thread)."""

    lookup: Lookup

    @property
    def function(self) -> Callable[[], Any]:
        """The provider's ``load``."""
        assert self.lookup.provider is not None  # the machine loads only lookups with one
        return self.lookup.provider.load

    @property
    def is_async(self) -> bool:
        """True when ``function`` is an ``async def``."""
        return is_async_provider(self.lookup.provider)


@attrs.frozen(eq=False)
class StopServing:
    """Cancel every ``Serve`` and wait for them to end (bounded by the executor)."""


@attrs.frozen(eq=False)
class Close:
    """Close a sink or a source (``close``/``aclose``)."""

    part: Part


Command = Open | Serve | Read | Cycle | Load | Flush | Acknowledge | StopServing | Close


@attrs.frozen
class Step:
    """What one ``poll`` asks of the executor (rule 1)."""

    commands: tuple[Command, ...] = ()
    again: bool = False
    wake: float | None = None
    real_wake: float | None = None


class RunMachine:
    """A run of pipelines from open to close (module rules).

    Args:
        pipelines: the pipelines (or a ``Pump``) to run.
        batch_size: the most events one pump of a source takes.
        commit_every: commit once this many positions were taken (sooner when idle).
        stop_after: clock seconds after the first poll at which the run stops by itself.
        stop_timeout: real seconds the stop sequence may take (rule 6).
        serving: True when the host decides when the run ends (rule 5).

    Raises:
        ConfigError: a lookup's ``refresh`` trigger is also a source's or another lookup's.
    """

    def __init__(
        self,
        pipelines: Iterable[Pipeline] | Pump,
        *,
        batch_size: int = 256,
        commit_every: int = 1000,
        stop_after: float | None = None,
        stop_timeout: float = 10.0,
        serving: bool = False,
    ) -> None:
        self.driver = Driver(pipelines, batch_size=batch_size, commit_every=commit_every)
        self.pipelines: tuple[Pipeline, ...] = self.driver.pipelines
        self.stop_after = stop_after
        self.stop_timeout = stop_timeout
        self.serving = serving
        self.phase: Phase = "new"
        self.error: BaseException | None = None
        self._deadline: float | None = None  # clock time of stop_after
        self._stop_by: float | None = None  # real time the stop sequence must end by
        self._stop_requested = False
        self._outstanding: set[Command] = set()
        self._given_up: set[Command] = set()  # abandoned at the stop deadline; answers ignored
        self._reads_and_cycles = 0
        self._opened: list[Part] = []
        self._serving = False
        self._stages: list[str] = []  # what opening or closing still has to do, in order
        self._commit: tuple[tuple[IOSource, tuple[Any, ...]], ...] | None = None
        self._receipts: tuple[Receipt, ...] = ()  # settled with the commit's acknowledgements
        self._flush_failed = False  # a flush of the commit under way failed
        self._final_commit = True
        self._abandoned = 0
        self.lookups: tuple[Lookup, ...] = tuple(
            lookup for lookup in self.driver.pump.lookups if lookup.provider is not None
        )
        self._loading: set[str] = set()  # ids of lookups with a Load outstanding (rule 8)
        _check_refresh_triggers(self.lookups, self.driver.triggers)

    # ------------------------------------------------------------ what the executor asks

    @property
    def finished(self) -> bool:
        """True once the run is over (every command answered, everything closed)."""
        return self.phase == "done"

    @property
    def flushing(self) -> bool:
        """True while sinks are being flushed: no event may reach a sink (rule 4). An executor
        with work that completes concurrently (async steps, events sent from worker threads)
        defers it until this is False."""
        return any(type(c) is Flush for c in self._outstanding)

    @property
    def stop_by(self) -> float | None:
        """The real (monotonic) time the stop sequence must end by; None while running."""
        return self._stop_by

    @property
    def abandoned(self) -> int:
        """How many in-flight events the stop sequence abandoned (rule 6)."""
        return self._abandoned

    def idle(self) -> bool:
        """True when nothing runs: no command outstanding, no event in flight at an async or
        blocking step (a virtual clock may then jump to the next wake)."""
        # Results held back by backpressure do not count: they move only if something else
        # does, so a run whose only such results wait for a stopped pipeline can end (rule 5).
        return not (self._outstanding or self.driver.running_calls())

    def request_stop(self) -> None:
        """Take no new input from now on and run the stop sequence (rule 3)."""
        self._stop_requested = True

    def poll(self, now: float, real: float) -> Step:
        """Do what is due at ``now`` (clock) / ``real`` (monotonic) and say what to do next."""
        phase = self.phase
        if phase == "running":
            return self._run(now, real)
        if phase == "new":
            self.phase = "opening"
            self.driver.start(now)
            for lookup in self.lookups:
                if lookup.refresh is not None:
                    lookup.refresh.start(now)
            if self.stop_after is not None:
                self._deadline = now + self.stop_after
            self._stages = ["open_sinks", "open_sources", "load_lookups", "serve"]
            return self._next_stage(now, real)
        if phase == "opening" or phase == "closing":
            return self._next_stage(now, real)
        if phase == "stopping":
            return self._stop(now, real)
        return Step()

    # ------------------------------------------------------------ outcomes

    def done(self, command: Command, now: float, result: Any = None) -> None:
        """``command`` returned ``result`` (rule 2)."""
        if not self._answered(command):
            return
        kind = type(command)
        if kind is Read:
            assert isinstance(command, Read)
            command.source.feed(result, now)
        elif kind is Cycle:
            assert isinstance(command, Cycle)
            for source, exc in result or ():
                _report(source.Pipeline, source.Id, exc)
            self.driver.cycle_done(command.trigger, now)
        elif kind is Open:
            assert isinstance(command, Open)
            self._opened.append(command.part)
        elif kind is Load:
            assert isinstance(command, Load)
            try:
                command.lookup.loaded(result)
            except Exception as exc:  # not a mapping: as if the provider had raised
                self._load_over(command, now, exc)
            else:
                self._load_over(command, now, None)

    def failed(self, command: Command, now: float, exc: BaseException) -> None:
        """``command`` raised ``exc`` (rule 2)."""
        if not self._answered(command):
            return
        kind = type(command)
        if kind is Read:
            assert isinstance(command, Read)
            _report(command.source.Pipeline, command.source.Id, exc)
            command.source.read_failed(now)
        elif kind is Cycle:
            assert isinstance(command, Cycle)
            for source in command.sources:
                _report(source.Pipeline, source.Id, exc)
            self.driver.cycle_done(command.trigger, now)
        elif kind is Flush:
            assert isinstance(command, Flush)
            _report(command.pipeline, command.sink.Id, exc)
            self.driver.flush_failed(command.sink)
            self._flush_failed = True
        elif kind is Acknowledge or kind is Serve:
            assert isinstance(command, Acknowledge | Serve)
            _report(command.source.Pipeline, command.source.Id, exc)
        elif kind is Load:
            assert isinstance(command, Load)
            self._load_over(command, now, exc)
        elif kind is Open and self.error is None:
            self.error = exc  # rule 7
        # Close and StopServing failures are the executor's to log; nothing depends on them.

    def _load_over(self, command: Load, now: float, exc: BaseException | None) -> None:
        """Rule 8: count a failure (fatal at start unless optional), end the trigger's firing."""
        lookup = command.lookup
        self._loading.discard(lookup.Id)
        at_start = self.phase == "opening"
        if exc is not None:
            lookup.load_failed()
            if at_start and not lookup.optional and self.error is None:
                self.error = LookupLoadError(
                    f"lookup {lookup.Id!r} failed to load at start: {exc!r} (set its config "
                    "key 'optional' to start without it)"
                )
                self.error.__cause__ = exc
        trigger = lookup.refresh
        if trigger is None:
            return
        if at_start:
            at = trigger.next_fire_at()
            if at is None or at > now:
                return
            trigger.fire(now)  # the load at start was this firing's load
        trigger.cycle_done(now)

    def _answered(self, command: Command) -> bool:
        """Take ``command`` off the outstanding set; False for one given up on (ignore it)."""
        if type(command) is Serve:
            return True
        if command in self._given_up:
            self._given_up.discard(command)
            return False
        if command not in self._outstanding:
            raise ValueError(f"{command!r} is not outstanding (answered twice?)")
        self._outstanding.discard(command)
        if type(command) is Read or type(command) is Cycle:
            self._reads_and_cycles -= 1
        return True

    def _start(self, commands: Sequence[Command]) -> tuple[Command, ...]:
        for command in commands:
            if type(command) is Serve:
                continue
            self._outstanding.add(command)
            if type(command) is Read or type(command) is Cycle:
                self._reads_and_cycles += 1
        return tuple(commands)

    # ------------------------------------------------------------ opening and closing

    def _next_stage(self, now: float, real: float) -> Step:
        """Start the opening or closing stages one after the other, each once the previous one
        was answered."""
        if self._outstanding:
            return self._wait_for_stage(now, real)
        if self.phase == "opening" and self.error is not None:
            return self._enter_closing(now, real, failed_open=True)
        while self._stages:
            commands = self._stage(self._stages.pop(0))
            if commands:
                return Step(self._start(commands))
        if self.phase == "opening":
            self.phase = "running"
        else:
            self.phase = "done"
        return Step(again=True)

    def _stage(self, name: str) -> list[Command]:
        driver = self.driver
        if name == "open_sinks":
            sinks = [s for _, s in driver.sinks() if isinstance(s, BlockingSink | AsyncSink)]
            return [Open(s) for s in sinks]
        if name == "open_sources":
            return [Open(s) for s in driver.io_sources]
        if name == "load_lookups":
            starting = [lookup for lookup in self.lookups if not lookup.lazy]
            self._loading.update(lookup.Id for lookup in starting)
            return [Load(lookup) for lookup in starting]
        if name == "serve":
            servers = [s for s in self._opened if isinstance(s, AsyncSource) and has_serve(s)]
            self._serving = bool(servers)
            return [Serve(s) for s in servers]
        if name == "flush":
            return self._begin_commit() if self._final_commit else []
        if name == "acknowledge":
            return self._acknowledgements()
        if name == "stop_serving":
            return [StopServing()] if self._serving else []
        if name == "close_sinks":
            return [Close(p) for p in self._opened if isinstance(p, Sink)]
        assert name == "close_sources"
        return [Close(p) for p in self._opened if not isinstance(p, Sink)]

    def _wait_for_stage(self, now: float, real: float) -> Step:
        """Wait for the stage's answers; past the stop deadline, a flush or acknowledgement
        still unanswered counts as failed (rule 6) and nothing is acknowledged."""
        if self.phase == "closing" and self._stop_by is not None and real >= self._stop_by:
            late = [c for c in self._outstanding if type(c) is Flush or type(c) is Acknowledge]
            for command in late:
                self.failed(command, now, TimeoutError("not done within stop_timeout"))
                self._given_up.add(command)
            if late:
                self._drop_commit()
                return Step(again=True)
        return Step(real_wake=self._stop_by if self.phase == "closing" else None)

    # ------------------------------------------------------------ running

    def _run(self, now: float, real: float) -> Step:
        driver = self.driver
        if self._deadline is not None and now >= self._deadline:
            self._stop_requested = True
        if self._stop_requested:
            return self._enter_stopping(real)
        if self.flushing:
            return Step()  # nothing reaches a sink during a flush: wait for its outcome
        if self._commit is not None:  # the flush is over: acknowledge
            return Step(self._start(self._acknowledgements()), again=True)
        work = driver.step(now)
        commands: list[Command] = [Cycle(t, s) for t, s in work.cycles]
        commands += [Read(s, s.begin_read()) for s in work.reads]
        commands += self._refreshes(now)
        acknowledging = any(type(c) is Acknowledge for c in self._outstanding)
        if not acknowledging and driver.commit_due(idle=not work.progressed):
            commands += self._begin_commit()
        if commands or work.taken or self._commit is not None:
            return Step(self._start(commands), again=bool(work.taken) or self._commit is not None)
        if not self.serving and self.idle():
            if driver.finished():
                return self._enter_stopping(real)
            if driver.next_wake() is None and self._deadline is None:
                return self._enter_stopping(real)  # rule 5: no event can ever come
        wakes = [driver.next_wake(), self._deadline, *self._refresh_times()]
        return Step(wake=min((w for w in wakes if w is not None), default=None))

    def _refreshes(self, now: float) -> list[Command]:
        """Rule 8: a load for each lookup whose refresh trigger is due and that is not loading."""
        loads: list[Command] = []
        for lookup in self.lookups:
            trigger = lookup.refresh
            if trigger is None or lookup.Id in self._loading:
                continue
            at = trigger.next_fire_at()
            if at is not None and at <= now:
                trigger.fire(now)
                self._loading.add(lookup.Id)
                loads.append(Load(lookup))
        return loads

    def _refresh_times(self) -> list[float | None]:
        return [
            lookup.refresh.next_fire_at()
            for lookup in self.lookups
            if lookup.refresh is not None and lookup.Id not in self._loading
        ]

    def _begin_commit(self) -> list[Command]:
        """Rule 4: take what is done, flush every sink that buffers (or go straight on)."""
        commit = self.driver.take_commit()
        self._commit, self._receipts, self._flush_failed = commit.acks, commit.receipts, False
        return [Flush(p, s) for p, s in self.driver.sinks() if not flush_is_noop(s)]

    def _drop_commit(self) -> None:
        """A flush of the commit did not return: acknowledge nothing of it, commit no receipt."""
        self._commit = None
        for receipt in self._receipts:
            receipt.failed = True
        self._receipts = ()

    def _acknowledgements(self) -> list[Command]:
        acks = self._commit or ()
        self._commit = None
        # Receipts cannot tell which sink their event reached: any failed flush fails them.
        for receipt in self._receipts:
            if self._flush_failed:
                receipt.failed = True
            else:
                receipt.committed = True
        self._receipts = ()
        # A failed flush poisoned the sources feeding that sink (Driver.flush_failed); the
        # others go on.
        return [Acknowledge(s, p) for s, p in acks if not s.ledger.poisoned]

    # ------------------------------------------------------------ stopping

    def _enter_stopping(self, real: float) -> Step:
        self.phase = "stopping"
        self._stop_by = real + self.stop_timeout
        self.driver.request_stop()
        return Step(again=True)

    def _stop(self, now: float, real: float) -> Step:
        """Drain: let reads, cycles, offloaded steps and a commit under way end, pumping the
        queues between pipelines; then stop the pipelines one by one, feeders first."""
        driver = self.driver
        assert self._stop_by is not None
        in_time = real < self._stop_by
        committing = any(type(c) is Flush or type(c) is Acknowledge for c in self._outstanding)
        if committing:
            if in_time:
                return Step(real_wake=self._stop_by)
            self._final_commit = False  # a write still runs: nothing may be acknowledged
            self._drop_commit()
            return self._enter_closing(now, real)
        if self._commit is not None:
            return Step(self._start(self._acknowledgements()), again=True)
        if driver.pump_round():
            return Step(again=True)
        if (self._reads_and_cycles or driver.running_calls()) and in_time:
            return Step(real_wake=self._stop_by)
        if in_time and driver.stop_next(now):
            return Step(again=True)
        return self._enter_closing(now, real)

    def _enter_closing(self, now: float, real: float, failed_open: bool = False) -> Step:
        """Rule 6's last resort, then the closing stages (rule 3)."""
        driver = self.driver
        self.phase = "closing"
        if self._stop_by is None:
            self._stop_by = real + self.stop_timeout
        driver.request_stop()
        # Reads, cycles and writes still running past the deadline are given up on.
        self._given_up |= self._outstanding
        self._outstanding.clear()
        self._reads_and_cycles = 0
        if failed_open:
            self._final_commit = False
        else:
            self._abandon()
            driver.stop(now)
            self._abandon()  # results held back by a pipeline that can no longer drain
        self._stages = ["flush", "acknowledge", "stop_serving", "close_sinks", "close_sources"]
        return Step(again=True)

    def _abandon(self) -> None:
        self._abandoned += self.driver.abandon(
            PipelineStoppedError("abandoned: the step did not finish before the pump stopped")
        )


def _check_refresh_triggers(lookups: Sequence[Lookup], triggers: Sequence[Trigger]) -> None:
    """A trigger has one schedule: shared, each of its users would fire it for itself."""
    owners: dict[Trigger, str] = dict.fromkeys(triggers, "a source")
    for lookup in lookups:
        trigger = lookup.refresh
        if trigger is None:
            continue
        if trigger in owners:
            raise ConfigError(
                f"lookup {lookup.Id!r}: its refresh trigger {trigger!r} is also the trigger of "
                f"{owners[trigger]}; give each its own"
            )
        owners[trigger] = f"lookup {lookup.Id!r}"


def _report(pipeline: Pipeline | None, component_id: str, exc: BaseException) -> None:
    """A failure outside any event (a read, a cycle, a flush): the error policy decides."""
    if pipeline is not None:
        error = exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
        pipeline.report_source_failure(component_id, error)
