"""Conformance: the same pipelines give the same outputs and statistics on every executor.

For users' and adapter authors' tests, as ``trio.testing`` ships checks for stream authors.
Nothing here imports an event loop: executors are reached through ``pumpcore_executors`` when a
check runs, and pytest/hypothesis are imported only by the functions that need them.

Example (a conftest.py and a test)::

    import pytest
    from pumpcore.testing import conformance

    @pytest.fixture(params=conformance.executor_params())
    def executor(request):
        return request.param

    def test_my_pipeline(executor):
        outcome = conformance.run_spec(conformance.PipelineSpec(...), [1, 2, 3], executor)
        assert outcome == conformance.run_spec(..., [1, 2, 3], "sync")

Adapter authors check their own sources and sinks against the acknowledgement contract
(``pumpcore/_io_source.py``) with ``check_source`` and ``check_sink``, on every executor::

    @pytest.mark.parametrize("executor", conformance.available_executors())
    def test_my_source(tmp_path, executor):
        conformance.check_source(
            lambda: MySource(config={"path": str(tmp_path / "*.log"), "watch": False}),
            lambda count: write_records(tmp_path, count),  # returns the events, in order
            executor,
        )
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

import attrs

from .._component import Context, Generator, Sink
from .._io_source import (
    AsyncSink,
    AsyncSource,
    Batch,
    BlockingSink,
    BlockingSource,
    IOSource,
    ReadResult,
    Received,
    Rejected,
)
from .._pipeline import ErrorPolicy, Pipeline
from .._pump import Pump
from ..common._iterator_source import IteratorSource
from ..common._routing import InternalSource, RouterSink, TeeProcessor
from ..common._sinks import ListSink

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

EXECUTORS = ("sync", "threads", "asyncio", "trio")
"""Every executor ``pumpcore_executors.run`` knows."""

StepKind = Literal["map", "filter", "explode", "fail"]


def available_executors() -> tuple[str, ...]:
    """The executors usable here: sync and threads always; asyncio with anyio; trio with trio."""
    names = ["sync", "threads"]
    if importlib.util.find_spec("anyio") is not None:
        names.append("asyncio")
        if importlib.util.find_spec("trio") is not None:
            names.append("trio")
    return tuple(names)


def executor_params() -> list[Any]:
    """``pytest.param``s for a fixture over every executor (trio's marked ``needs_trio`` and
    skipped when trio is not installed), as anyio's ``anyio_backend`` fixture does."""
    import pytest

    available = available_executors()
    params = []
    for name in EXECUTORS:
        marks = [pytest.mark.needs_trio] if name == "trio" else []
        if name not in available:
            marks.append(pytest.mark.skip(reason=f"{name} is not installed"))
        params.append(pytest.param(name, id=name, marks=marks))
    return params


@attrs.frozen
class StepSpec:
    """One generated step over integer events.

    ``map``: ``e * 3 + arg``; ``filter``: drop when ``e % arg == 0``; ``explode``: a generator
    yielding ``e * 10 + i`` for ``i < arg``; ``fail``: raise ValueError when ``e % arg == 1``.
    """

    kind: StepKind
    arg: int

    def build(self, index: int) -> Any:
        """The processor (a function, or a Generator for ``explode``)."""
        arg = self.arg
        if self.kind == "explode":
            return _Explode(arg, id=f"explode{index}")
        if self.kind == "map":

            def step(context: Context, event: int) -> int | None:
                return event * 3 + arg

        elif self.kind == "filter":

            def step(context: Context, event: int) -> int | None:
                return None if event % arg == 0 else event

        else:

            def step(context: Context, event: int) -> int | None:
                if event % arg == 1:
                    raise ValueError(f"{event} % {arg} == 1")
                return event

        step.__name__ = f"{self.kind}{index}"
        return step


class _Explode(Generator):
    def __init__(self, n: int, id: str) -> None:
        super().__init__(id=id)
        self.n = n

    def generate(self, context: Context, event: int) -> list[int]:
        return [event * 10 + i for i in range(self.n)]


class _Route(RouterSink):
    def process(self, context: Context, event: Any) -> None:
        self.route(context, event, "Child.InternalSource")


@attrs.frozen
class PipelineSpec:
    """A parent pipeline over an iterator of ints, optionally routing to a child pipeline.

    Attributes:
        steps: the parent's steps.
        route: "none" (the parent ends in a ListSink), "router" (a RouterSink sends every event
            to the child), or "tee" (a TeeProcessor copies every event to the child and the
            parent goes on to its own sink).
        child_steps: the child's steps.
        queue_size: the child's InternalSource bound (small to exercise backpressure).
        error_policy: both pipelines' policy.
        batch_size: passed to the executor.
    """

    steps: tuple[StepSpec, ...] = ()
    route: Literal["none", "router", "tee"] = "none"
    child_steps: tuple[StepSpec, ...] = ()
    queue_size: int = 10
    error_policy: Literal["hard", "soft"] = "soft"
    batch_size: int = 16

    def build(self, events: Iterable[int]) -> tuple[list[Pipeline], dict[str, ListSink]]:
        """Fresh pipelines (in one Pump) and their ListSinks by pipeline id."""
        policy: ErrorPolicy = self.error_policy
        parent = Pipeline("Parent", error_policy=policy)
        pipelines = [parent]
        sinks: dict[str, ListSink] = {}
        steps = [s.build(i) for i, s in enumerate(self.steps)]
        if self.route == "none":
            sinks["Parent"] = ListSink()
            parent.build(IteratorSource(list(events)), *steps, sinks["Parent"])
        else:
            child = Pipeline("Child", error_policy=policy)
            child_sink = ListSink()
            sinks["Child"] = child_sink
            child_steps = [s.build(i) for i, s in enumerate(self.child_steps)]
            child.build(
                InternalSource(config={"queue_max_size": self.queue_size}),
                *child_steps,
                child_sink,
            )
            if self.route == "router":
                parent.build(IteratorSource(list(events)), *steps, _Route())
            else:
                sinks["Parent"] = ListSink()
                tee = TeeProcessor().bind("Child.InternalSource")
                parent.build(IteratorSource(list(events)), *steps, tee, sinks["Parent"])
            pipelines.append(child)
        Pump(pipelines)
        return pipelines, sinks


@attrs.frozen
class Outcome:
    """What a run produced: each sink's events in order, each pipeline's counters, hard errors."""

    outputs: Mapping[str, list[Any]]
    statistics: Mapping[str, Mapping[str, int]]
    errors: Mapping[str, str]


def run_spec(
    spec: PipelineSpec, events: Sequence[int], executor: str, **run_kwargs: Any
) -> Outcome:
    """Build ``spec`` over ``events``, run it to the end on ``executor``, return the outcome."""
    import pumpcore_executors

    pipelines, sinks = spec.build(events)
    report = pumpcore_executors.run(
        *pipelines,
        executor=executor,  # type: ignore[arg-type]
        batch_size=spec.batch_size,
        handle_signals=False,
        **run_kwargs,
    )
    return Outcome(
        outputs={pid: list(sink.Events) for pid, sink in sinks.items()},
        statistics={pid: dict(stats.as_dict()) for pid, stats in report.statistics.items()},
        errors=dict(report.errors),
    )


def assert_same_everywhere(
    spec: PipelineSpec, events: Sequence[int], executors: Sequence[str] | None = None
) -> Outcome:
    """Run ``spec`` on every available executor and assert the outcomes are identical.

    Returns:
        The outcome (the sync executor's).

    Raises:
        AssertionError: naming the first executor that differed, and how.
    """
    names = list(executors) if executors is not None else list(available_executors())
    expected = run_spec(spec, events, names[0])
    for name in names[1:]:
        got = run_spec(spec, events, name)
        assert got.outputs == expected.outputs, f"{name}: outputs differ from {names[0]}'s"
        assert got.statistics == expected.statistics, (
            f"{name}: statistics {got.statistics} differ from {names[0]}'s {expected.statistics}"
        )
        assert got.errors.keys() == expected.errors.keys(), f"{name}: errors differ"
    return expected


def step_specs() -> SearchStrategy[StepSpec]:
    """Hypothesis strategy for one step (needs hypothesis)."""
    from hypothesis import strategies as st

    return st.one_of(
        st.builds(StepSpec, st.just("map"), st.integers(-3, 3)),
        st.builds(StepSpec, st.just("filter"), st.integers(2, 5)),
        st.builds(StepSpec, st.just("explode"), st.integers(0, 3)),
        st.builds(StepSpec, st.just("fail"), st.integers(3, 9)),
    )


def pipeline_specs() -> SearchStrategy[PipelineSpec]:
    """Hypothesis strategy for generated pipelines: maps, filters, generators, failures, routing
    to a second pipeline through a small queue, both error policies, small batches."""
    from hypothesis import strategies as st

    return st.builds(
        PipelineSpec,
        steps=st.lists(step_specs(), max_size=4).map(tuple),
        route=st.sampled_from(["none", "router", "tee"]),
        child_steps=st.lists(step_specs(), max_size=3).map(tuple),
        queue_size=st.integers(1, 20),
        error_policy=st.sampled_from(["soft", "hard"]),
        batch_size=st.integers(1, 64),
    )


# ---------------------------------------------------------------------------------------------
# Checks for adapter authors: sources and sinks against the acknowledgement contract.


class _Journal:
    """What the parts of a checked run did, in order (acknowledgements, flushes, closes), and
    what broke the contract, found as it happened.

    Reads and acknowledgements may run in two worker threads at once, flushes in a third; the
    core may not import threading, and needs no lock here: each record is one ``list.append``
    (atomic), and the contract itself keeps a flush apart from the events reaching the sink and
    from the acknowledgements that follow it — a run that breaks it loses an event, which the
    checks then report.
    """

    def __init__(self) -> None:
        self.entries: list[str] = []
        self.violations: list[str] = []

    def note(self, entry: str) -> None:
        self.entries.append(entry)

    def violation(self, message: str) -> None:
        self.violations.append(message)

    def check(self, what: str) -> None:
        """Raise for the violations seen, then check the close order (module docs)."""
        if self.violations:
            raise AssertionError(f"{what}: " + "; ".join(self.violations[:5]))
        entries = self.entries
        for part in ("sink", "source"):
            closes = entries.count(f"close {part}")
            if closes != 1:
                raise AssertionError(f"{what}: the {part} was closed {closes} times, not once")
        if entries.index("close sink") > entries.index("close source"):
            raise AssertionError(f"{what}: the source was closed before the sink")
        first_close = min(entries.index("close sink"), entries.index("close source"))
        late = [e for e in entries[first_close:] if not e.startswith("close")]
        if late:
            raise AssertionError(f"{what}: {late[0]} after a close")
        if "flush" not in entries[:first_close]:
            raise AssertionError(f"{what}: the sink was closed without a final flush")


class _CheckSink(BlockingSink):
    """Keeps what ``check_source``'s source emitted; durable once ``flush`` returned."""

    def __init__(self, journal: _Journal) -> None:
        super().__init__(id="CheckSink")
        self.journal = journal
        self.buffer: list[tuple[int, Any]] = []
        self.durable: list[tuple[int, Any]] = []
        self.serials: set[int] = set()

    def process(self, context: Context, event: tuple[int, Any]) -> None:
        self.buffer.append(event)

    def flush(self) -> None:
        batch, self.buffer = self.buffer, []
        self.durable.extend(batch)
        self.serials.update([serial for serial, _ in batch])
        self.journal.note("flush")

    def close(self) -> None:
        self.journal.note("close sink")


class _Tagger:
    """Wraps a source's ``read``, ``acknowledge`` and close on the instance: each event read
    becomes ``(serial, event)``, and each acknowledgement is checked as it comes — the next
    positions in read order, every event up to them durable in ``sink``."""

    def __init__(self, source: IOSource, journal: _Journal, sink: _CheckSink) -> None:
        self.journal, self.sink = journal, sink
        self.events: list[Any] = []  # as read, by serial
        self.positions: list[tuple[int, Any]] = []  # (serial, position) in read order
        self.acknowledged = 0  # how many of ``positions``
        if isinstance(source, AsyncSource):
            read, acknowledge, close = source.read, source.acknowledge, source.aclose

            async def aread(max_items: int) -> Sequence[Received | Rejected] | None:
                return self.tag(await read(max_items))

            async def aacknowledge(positions: Sequence[Any]) -> None:
                self.check_ack(positions)
                await acknowledge(positions)

            async def aclose() -> None:
                journal.note("close source")
                await close()

            setattr(source, "read", aread)  # noqa: B010 (an instance attribute, on purpose)
            setattr(source, "acknowledge", aacknowledge)  # noqa: B010
            setattr(source, "aclose", aclose)  # noqa: B010
        else:
            assert isinstance(source, BlockingSource)
            bread, backnowledge, bclose = source.read, source.acknowledge, source.close

            def read_(max_items: int) -> Sequence[Received | Rejected] | None:
                return self.tag(bread(max_items))

            def acknowledge_(positions: Sequence[Any]) -> None:
                self.check_ack(positions)
                backnowledge(positions)

            def close_() -> None:
                journal.note("close source")
                bclose()

            setattr(source, "read", read_)  # noqa: B010
            setattr(source, "acknowledge", acknowledge_)  # noqa: B010
            setattr(source, "close", close_)  # noqa: B010

    def tag(self, items: ReadResult) -> Sequence[Received | Rejected] | None:
        if items is None:
            return None
        records: Sequence[Received | Rejected]
        if isinstance(items, Batch):
            n = len(items.events)
            records = [
                Received(*record)
                for record in zip(
                    items.events,
                    items.positions if items.positions is not None else [None] * n,
                    items.contexts if items.contexts is not None else [None] * n,
                    strict=True,
                )
            ]
        else:
            records = cast("Sequence[Received | Rejected]", items)
        tagged: list[Received | Rejected] = []
        for item in records:
            if isinstance(item, Rejected):
                # No event: its position is done once what was read before it is.
                if item.position is not None:
                    self.positions.append((len(self.events) - 1, item.position))
                tagged.append(item)
                continue
            serial = len(self.events)
            self.events.append(item.event)
            if item.position is not None:
                self.positions.append((serial, item.position))
            tagged.append(Received((serial, item.event), item.position, item.context))
        return tagged

    def check_ack(self, positions: Sequence[Any]) -> None:
        start = self.acknowledged
        expected = self.positions[start : start + len(positions)]
        if [p for _, p in expected] != list(positions):
            self.journal.violation(
                f"acknowledged {list(positions)[:3]}... after {start} positions; the next "
                f"read were {[p for _, p in expected][:3]}... (read order, no gaps)"
            )
            return
        self.acknowledged += len(positions)
        last = expected[-1][0] if expected else -1
        missing = [s for s in range(last + 1) if s not in self.sink.serials]
        if missing:
            self.journal.violation(
                f"acknowledged {positions[-1]!r} before event #{missing[0]} "
                f"({self.events[missing[0]]!r}) was durable (flushed)"
            )
        self.journal.note("acknowledge")

    def done_events(self) -> int:
        """How many events read are covered by the acknowledged positions."""
        if not self.acknowledged:
            return 0
        return self.positions[self.acknowledged - 1][0] + 1


class _FailAt:
    """Fails the event with serial ``serial``, hard: the run's acknowledgements stop before it."""

    def __init__(self, serial: int) -> None:
        self.serial = serial
        self.__name__ = "FailAt"

    def __call__(self, context: Context, event: tuple[int, Any]) -> tuple[int, Any]:
        if event[0] == self.serial:
            raise ValueError(f"conformance: event #{self.serial} fails on purpose")
        return event


@attrs.frozen
class SourceCheck:
    """What ``check_source`` saw, for further assertions of the caller's own.

    Attributes:
        acknowledged: events covered by the positions the first run acknowledged.
        replayed: events the restarted source emitted (from the first not acknowledged).
        bad_input_failures: failures the run with bad input counted (source errors, warnings,
            errors and rejected inputs); None without ``make_bad_input``.
        sources: the source of each run, after it (e.g. for the adapter's own statistics).
    """

    acknowledged: int
    replayed: int
    bad_input_failures: int | None
    sources: tuple[IOSource, ...]


def _run_checked(
    source: IOSource, steps: Sequence[Any], executor: str, policy: ErrorPolicy, batch_size: int
) -> tuple[_Tagger, _CheckSink, _Journal, Any]:
    import pumpcore_executors

    journal = _Journal()
    sink = _CheckSink(journal)
    tagger = _Tagger(source, journal, sink)
    pipeline = Pipeline("Conformance", error_policy=policy)
    pipeline.build(source, *steps, sink)
    report = pumpcore_executors.run(
        pipeline,
        executor=executor,  # type: ignore[arg-type]
        batch_size=batch_size,
        handle_signals=False,
    )
    return tagger, sink, journal, report.statistics["Conformance"]


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def check_source(
    make_source: Callable[[], IOSource],
    make_input: Callable[[int], Sequence[Any]],
    executor: str = "sync",
    *,
    count: int = 200,
    make_bad_input: Callable[[], None] | None = None,
    batch_size: int = 16,
) -> SourceCheck:
    """Check an I/O source against the acknowledgement contract on ``executor``.

    Three runs, each with a fresh source from ``make_source`` over the same backing store:

    1. ``count`` records; the event in the middle fails hard. Every acknowledgement must name
       the next positions in read order, and come only after every event up to them was
       flushed by the sink; the positions from the failing batch on are never acknowledged.
    2. A restart, with ``count // 2`` records more: the source must emit exactly the events
       after the last acknowledged position, then the new ones, and everything is acknowledged.
    3. With ``make_bad_input``: bad input, then good records, under the soft policy: the run
       must count the bad input as a failure (``source.error``, a warning, an error, or an
       input the source rejected, ``event.rejected``) and still emit and acknowledge the good
       records.

    Every run must close the sink, then the source, each exactly once, after the final flush
    and acknowledgements.

    Args:
        make_source: a fresh, unopened source over the backing store; it must end its input
            (``read`` returns None) once it has read everything there is.
        make_input: adds ``n`` records to the backing store and returns the events the source
            will emit for them, in order.
        executor: the executor to run on (``available_executors()``).
        count: records in the first run (at least ``2 * batch_size``).
        make_bad_input: adds input the source cannot read (a corrupt file, an undecodable
            record); None to skip the third run.
        batch_size: the executor's batch size (the acknowledgement granularity).

    Returns:
        A ``SourceCheck`` with what was seen.

    Raises:
        AssertionError: naming the first broken rule.
    """
    _expect(count >= 2 * batch_size, "check_source: count must be at least 2 * batch_size")
    expected = list(make_input(count))
    _expect(len(expected) == count, f"make_input({count}) returned {len(expected)} events")

    # 1. A hard failure in the middle: only what precedes its batch is acknowledged.
    first = make_source()
    tagger, sink, journal, stats = _run_checked(
        first, [_FailAt(count // 2)], executor, "hard", batch_size
    )
    journal.check("check_source, first run")
    _expect(
        tagger.events == expected[: len(tagger.events)],
        f"the source emitted {tagger.events[:5]!r}..., not the input {expected[:5]!r}...",
    )
    _expect(stats.error == 1, f"the failing event was not counted as an error: {stats}")
    done = tagger.done_events()
    _expect(done <= count // 2, f"positions up to event #{done - 1} acknowledged past a failure")
    _expect(done > 0, "nothing was acknowledged before the failing batch")
    _expect(
        [e for _, e in sink.durable][:done] == expected[:done],
        "the durable output does not start with the acknowledged events",
    )

    # 2. A restart replays from the last acknowledged position.
    extra = list(make_input(count // 2))
    second = make_source()
    tagger, sink, journal, stats = _run_checked(second, [], executor, "soft", batch_size)
    journal.check("check_source, after a restart")
    want = expected[done:] + extra
    _expect(
        tagger.events == want,
        f"after a restart the source emitted {len(tagger.events)} events starting "
        f"{tagger.events[:3]!r}; expected the {len(want)} from the first not acknowledged, "
        f"starting {want[:3]!r}",
    )
    _expect(tagger.acknowledged == len(tagger.positions), "not everything was acknowledged")
    _expect([e for _, e in sink.durable] == want, "the durable output is not what was read")

    # 3. Bad input is counted, good input goes on.
    failures: int | None = None
    sources: list[IOSource] = [first, second]
    if make_bad_input is not None:
        make_bad_input()
        good = list(make_input(max(1, count // 4)))
        third = make_source()
        sources.append(third)
        tagger, sink, journal, stats = _run_checked(third, [], executor, "soft", batch_size)
        journal.check("check_source, with bad input")
        failures = stats.source_error + stats.warning + stats.error + stats.rejected
        _expect(failures > 0, f"the bad input was not counted: {stats}")
        emitted = [e for _, e in sink.durable]
        _expect(all(e in emitted for e in good), "good input after bad input was lost")
        _expect(tagger.acknowledged == len(tagger.positions), "not everything was acknowledged")
    return SourceCheck(done, len(want), failures, tuple(sources))


class _CheckSource(BlockingSource):
    """Emits ``events`` with positions ``0, 1, ...``, 50 a read, and checks each
    acknowledgement against what ``read_durable`` shows (``check_sink``)."""

    def __init__(
        self, events: Sequence[Any], read_durable: Callable[[], Sequence[Any]], journal: _Journal
    ) -> None:
        super().__init__(id="CheckSource")
        self.events, self.read_durable, self.journal = list(events), read_durable, journal
        self.base = len(read_durable())
        self.next = 0
        self.acknowledged = 0
        self.flushing = 0

    def read(self, max_items: int) -> Sequence[Received] | None:
        if self.next >= len(self.events):
            return None
        stop = min(len(self.events), self.next + min(50, max_items))
        items = [Received(self.events[i], position=i) for i in range(self.next, stop)]
        self.next = stop
        return items

    def acknowledge(self, positions: Sequence[Any]) -> None:
        start = self.acknowledged
        if list(positions) != list(range(start, start + len(positions))):
            self.journal.violation(f"acknowledged {list(positions)[:3]}... after {start}")
            return
        self.acknowledged += len(positions)
        if self.flushing:
            self.journal.violation("acknowledged while the sink was flushing")
        upto = positions[-1] + 1
        durable = list(self.read_durable())[self.base :]
        if durable[:upto] != self.events[:upto]:
            self.journal.violation(
                f"position {upto - 1} acknowledged, but the store holds {len(durable)} of the "
                f"events up to it (or others): the sink's flush returned before they were durable"
            )
        self.journal.note("acknowledge")

    def close(self) -> None:
        self.journal.note("close source")


def _watch_sink(sink: Sink, journal: _Journal, source: _CheckSource) -> None:
    """Journal the sink's flushes and close, wrapping them on the instance."""
    if isinstance(sink, AsyncSink):
        aflush, aclose = sink.aflush, sink.aclose

        async def aflush_() -> None:
            source.flushing += 1
            try:
                await aflush()
            finally:
                source.flushing -= 1
            journal.note("flush")

        async def aclose_() -> None:
            journal.note("close sink")
            await aclose()

        setattr(sink, "aflush", aflush_)  # noqa: B010 (an instance attribute, on purpose)
        setattr(sink, "aclose", aclose_)  # noqa: B010
        return
    flush = sink.flush
    close: Callable[[], None] = getattr(sink, "close", lambda: None)

    def flush_() -> None:
        source.flushing += 1
        try:
            flush()
        finally:
            source.flushing -= 1
        journal.note("flush")

    def close_() -> None:
        journal.note("close sink")
        close()

    setattr(sink, "flush", flush_)  # noqa: B010
    setattr(sink, "close", close_)  # noqa: B010


@attrs.frozen
class SinkCheck:
    """What ``check_sink`` saw.

    Attributes:
        flushes: flushes over both runs.
        acknowledgements: acknowledgements over both runs.
    """

    flushes: int
    acknowledgements: int


def check_sink(
    make_sink: Callable[[], Sink],
    read_durable: Callable[[], Sequence[Any]],
    executor: str = "sync",
    *,
    count: int = 300,
    make_event: Callable[[int], Any] = lambda i: {"seq": i},
) -> SinkCheck:
    """Check a sink against the acknowledgement contract on ``executor``.

    Two runs of ``source → sink``, each with a fresh sink from ``make_sink`` over the same
    store, fed ``make_event(i)`` by a source that checks every acknowledgement as it comes:
    the events of every acknowledged position must already be in ``read_durable()`` (the
    sink's flush returned only once they were written), in order. The second run's events
    must follow the first's (a restarted sink appends). Each run must close the sink before
    the source, each exactly once, after the final flush and acknowledgements.

    Args:
        make_sink: a fresh sink over the store (a ``BlockingSink``, an ``AsyncSink``, or a
            ``Sink`` that overrides ``flush``); configured to append across instances.
        read_durable: the events the store holds now, in write order, read back as
            ``make_event`` made them (it is called from worker threads, while the sink runs).
        executor: the executor to run on.
        count: events in the first run (the second writes half as many).
        make_event: the ``i``-th event.

    Returns:
        A ``SinkCheck``.

    Raises:
        AssertionError: naming the first broken rule.
    """
    import pumpcore_executors

    base = len(read_durable())
    flushes = acknowledgements = 0
    written: list[Any] = []
    for run, n in enumerate((count, count // 2)):
        journal = _Journal()
        events = [make_event(len(written) + i) for i in range(n)]
        source = _CheckSource(events, read_durable, journal)
        sink = make_sink()
        _watch_sink(sink, journal, source)
        pipeline = Pipeline("Conformance")
        pipeline.build(source, sink)
        pumpcore_executors.run(
            pipeline,
            executor=executor,  # type: ignore[arg-type]
            handle_signals=False,
        )
        what = "check_sink" + (", after a restart" if run else "")
        journal.check(what)
        written += events
        _expect(source.acknowledged == n, f"{what}: {source.acknowledged} of {n} acknowledged")
        durable = list(read_durable())[base:]
        _expect(
            durable == written,
            f"{what}: the store holds {len(durable)} events, not the {len(written)} written",
        )
        flushes += journal.entries.count("flush")
        acknowledgements += journal.entries.count("acknowledge")
    return SinkCheck(flushes, acknowledgements)
