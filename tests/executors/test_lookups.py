"""Lookups on every executor: loaded before the first event, refreshed on schedule, a failed
refresh keeps the table, a failed load at start ends the run."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName
from pumpcore_files import FileJSONLookupProvider

from pumpcore import (
    BlockingSink,
    Context,
    LookupLoadError,
    Pipeline,
    Processor,
    Pump,
    TriggerSource,
)
from pumpcore.common import IteratorSource, ListSink
from pumpcore.lookup import Lookup, LookupStatistics, MappingLookup
from pumpcore.testing import VirtualClock
from pumpcore.trigger import PeriodicTrigger, PubSub, PubSubTrigger

from .conftest import run_kwargs

pytestmark = pytest.mark.timeout(30)


class Enrich(Processor):
    """Adds ``lookup[event[key]]`` as it is when the event passes (``None`` when absent)."""

    def __init__(self, lookup_id: str, key: str) -> None:
        super().__init__()
        self.lookup_id = lookup_id
        self.key = key

    def process(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        assert self.Pipeline is not None
        assert self.Pipeline.Pump is not None
        table = self.Pipeline.Pump.locate_lookup(self.lookup_id)
        assert isinstance(table, MappingLookup)
        return {**event, "found": table.get(event[self.key])}


class Ticks(TriggerSource):
    def cycle(self) -> None:
        assert self.Pipeline is not None
        self.process({"t": self.Pipeline.time(), "k": "v"})


class Versions:
    """Answers ``{"v": n}`` at its n-th load; the loads numbered in ``failing`` raise instead.
    Records the thread of each call: a load must never run on an event loop's thread."""

    def __init__(self, failing: tuple[int, ...] = ()) -> None:
        self.calls = 0
        self.failing = failing
        self.threads: list[int] = []

    def load(self) -> Mapping[str, int]:
        self.calls += 1
        self.threads.append(threading.get_ident())
        if self.calls in self.failing:
            raise OSError(f"load {self.calls} failed")
        return {"v": self.calls}


class AsyncVersions:
    """An anyio provider: awaited by the async executors, run on the bridge by the others."""

    def __init__(self) -> None:
        self.calls = 0

    async def load(self) -> Mapping[str, int]:
        await anyio.sleep(0)
        self.calls += 1
        return {"v": self.calls}


class RecordingSink(BlockingSink):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def open(self) -> None:
        self.calls.append("open")

    def close(self) -> None:
        self.calls.append("close")


def ticking_pump(lookup: Lookup, every: float = 10) -> tuple[Pump, ListSink]:
    """A pipeline whose events, every ``every`` s, carry the lookup's ``v`` as it was then."""
    pump = Pump()
    pump.add_lookup(lookup)
    sink = ListSink()
    p = pump.add_pipeline(Pipeline("P"))
    p.build(Ticks().on(PeriodicTrigger(every)), Enrich(lookup.Id, "k"), sink)
    return pump, sink


def seen(sink: ListSink) -> list[tuple[float, Any]]:
    return [(e["t"], e["found"]) for e in sink.Events]


def test_loaded_from_a_file_before_the_first_event(executor: ExecutorName, tmp_path: Path) -> None:
    path = tmp_path / "countries.json"
    path.write_text(json.dumps({"cz": "Czechia", "sk": "Slovakia"}))
    pump = Pump()
    countries = pump.add_lookup(MappingLookup("Countries", provider=FileJSONLookupProvider(path)))
    sink = ListSink()
    p = pump.add_pipeline(Pipeline("P"))
    p.build(
        IteratorSource([{"cc": "cz"}, {"cc": "xx"}, {"cc": "sk"}]), Enrich("Countries", "cc"), sink
    )
    pumpcore_executors.run(pump, executor=executor, **run_kwargs(executor))
    assert [e["found"] for e in sink.Events] == ["Czechia", None, "Slovakia"]
    assert countries.statistics().loaded == 1


def test_refreshed_on_schedule_on_a_virtual_clock(executor: ExecutorName) -> None:
    provider = Versions()
    lookup = MappingLookup("L", {"refresh_period": 24}, provider=provider)
    pump, sink = ticking_pump(lookup)
    pumpcore_executors.run(
        pump, executor=executor, clock=VirtualClock(), stop_after=100, **run_kwargs(executor)
    )
    # Loaded at 0 (the refresh due at start is that load), then at 24, 48, 72 and 96.
    assert seen(sink) == [
        (0.0, 1), (10.0, 1), (20.0, 1), (30.0, 2), (40.0, 2),
        (50.0, 3), (60.0, 3), (70.0, 3), (80.0, 4), (90.0, 4),
    ]  # fmt: skip
    assert lookup.statistics() == LookupStatistics(version=5, loaded=5, unchanged=0, failed=0)
    if executor in ("asyncio", "trio"):
        assert threading.get_ident() not in provider.threads  # never on the loop's thread


def test_refreshed_on_the_system_clock(executor: ExecutorName) -> None:
    provider = Versions()
    lookup = MappingLookup("L", {"refresh_period": 0.1}, provider=provider)
    pump, sink = ticking_pump(lookup, every=0.03)
    pumpcore_executors.run(pump, executor=executor, stop_after=0.5, **run_kwargs(executor))
    assert 4 <= provider.calls <= 7  # at start, then about every 0.1 s
    values = [found for _, found in seen(sink)]
    assert values == sorted(values)
    assert values[0] == 1
    assert values[-1] >= 4


def test_an_unchanged_file_is_not_replaced_on_refresh(
    executor: ExecutorName, tmp_path: Path
) -> None:
    path = tmp_path / "table.json"
    path.write_text('{"v": "file"}')
    lookup = MappingLookup("L", {"refresh_period": 24}, provider=FileJSONLookupProvider(path))
    pump, sink = ticking_pump(lookup)
    pumpcore_executors.run(
        pump, executor=executor, clock=VirtualClock(), stop_after=100, **run_kwargs(executor)
    )
    assert {found for _, found in seen(sink)} == {"file"}
    stats = lookup.statistics()
    assert (stats.loaded, stats.unchanged, stats.failed, stats.version) == (1, 4, 0, 1)


def test_a_failed_refresh_keeps_the_table_and_is_counted(
    executor: ExecutorName, caplog: pytest.LogCaptureFixture
) -> None:
    lookup = MappingLookup("L", {"refresh_period": 24}, provider=Versions(failing=(2,)))
    pump, sink = ticking_pump(lookup)
    report = pumpcore_executors.run(
        pump, executor=executor, clock=VirtualClock(), stop_after=60, **run_kwargs(executor)
    )
    # The load at 24 failed: the table of 0 stays until the load at 48 succeeds.
    assert seen(sink) == [(0.0, 1), (10.0, 1), (20.0, 1), (30.0, 1), (40.0, 1), (50.0, 3)]
    stats = lookup.statistics()
    assert (stats.loaded, stats.failed) == (2, 1)
    assert report.errors == {}
    assert "load of lookup 'L' failed: OSError('load 2 failed')" in caplog.text


def test_a_failed_load_at_start_ends_the_run(executor: ExecutorName) -> None:
    pump = Pump()
    lookup = pump.add_lookup(MappingLookup("Countries", provider=Versions(failing=(1,))))
    source, sink = IteratorSource([{"cc": "cz"}]), RecordingSink()
    pump.add_pipeline(Pipeline("P")).build(source, Enrich("Countries", "cc"), sink)
    with pytest.raises((LookupLoadError, BaseExceptionGroup)) as caught:
        pumpcore_executors.run(pump, executor=executor, **run_kwargs(executor))
    error = caught.value
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]  # the async executors' task group wraps it, as a failed open
    assert isinstance(error, LookupLoadError)
    assert "lookup 'Countries' failed to load at start: OSError('load 1 failed')" in str(error)
    assert isinstance(error.__cause__, OSError)
    assert sink.calls == ["open", "close"]  # closed as after a failed open; no event reached it
    assert lookup.statistics().failed == 1


def test_an_optional_lookup_that_fails_at_start_is_refreshed_later(
    executor: ExecutorName,
) -> None:
    lookup = MappingLookup(
        "L", {"refresh_period": 24, "optional": True}, provider=Versions(failing=(1,))
    )
    pump, sink = ticking_pump(lookup)
    pumpcore_executors.run(
        pump, executor=executor, clock=VirtualClock(), stop_after=40, **run_kwargs(executor)
    )
    assert seen(sink) == [(0.0, None), (10.0, None), (20.0, None), (30.0, 2)]
    assert lookup.statistics().failed == 1


def test_an_async_provider_is_awaited_on_every_executor(executor: ExecutorName) -> None:
    lookup = MappingLookup("L", provider=AsyncVersions())
    pump, sink = ticking_pump(lookup)
    pumpcore_executors.run(
        pump, executor=executor, clock=VirtualClock(), stop_after=20, **run_kwargs(executor)
    )
    assert seen(sink) == [(0.0, 1), (10.0, 1)]


def test_a_lazy_lookup_is_loaded_only_when_its_refresh_trigger_fires(
    executor: ExecutorName,
) -> None:
    hub = PubSub()
    provider = Versions()
    lookup = MappingLookup("L", provider=provider, lazy=True, refresh=PubSubTrigger(hub, "load!"))
    pump = Pump()
    pump.add_lookup(lookup)

    def reload_at_20(context: Context, event: dict[str, Any]) -> dict[str, Any]:
        if event["t"] == 20.0:
            hub.publish("load!")
        return event

    sink = ListSink()
    pump.add_pipeline(Pipeline("P")).build(
        Ticks().on(PeriodicTrigger(10)), reload_at_20, Enrich("L", "k"), sink
    )
    pumpcore_executors.run(
        pump, executor=executor, clock=VirtualClock(), stop_after=40, **run_kwargs(executor)
    )
    assert seen(sink) == [(0.0, None), (10.0, None), (20.0, None), (30.0, 1)]
    assert provider.calls == 1
