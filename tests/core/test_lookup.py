"""Lookups: whole-table replacement, providers, registration in a Pump."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pumpcore import (
    ConfigError,
    LookupLoadError,
    Pipeline,
    Processor,
    Pump,
    Settings,
    TriggerSource,
    use_settings,
)
from pumpcore.common import IteratorSource, ListSink
from pumpcore.lookup import Lookup, LookupProvider, LookupStatistics, MappingLookup
from pumpcore.lowlevel import Load, RunMachine, Step
from pumpcore.testing import run_pipeline
from pumpcore.trigger import PeriodicTrigger


class Versions(LookupProvider):
    """Answers the tables given, in order (None: unchanged, like an HTTP 304; an exception is
    raised)."""

    def __init__(self, *tables: Mapping[str, Any] | Exception | None) -> None:
        self.tables = list(tables)

    def load(self) -> Mapping[str, Any] | None:
        table = self.tables.pop(0)
        if isinstance(table, Exception):
            raise table
        return table


def test_load_replaces_the_table_and_none_means_unchanged() -> None:
    lookup = MappingLookup("L", provider=Versions({"a": 1}, None, {"b": 2}))
    seen: list[int] = []
    lookup.add_update_listener(lambda lk: seen.append(lk.version))
    assert lookup.load()
    assert dict(lookup) == {"a": 1}
    assert not lookup.load()
    assert dict(lookup) == {"a": 1}
    assert lookup.load()
    assert dict(lookup) == {"b": 2}
    assert seen == [1, 2]


def test_set_keeps_a_copy() -> None:
    data = {"k": "v"}
    lookup = MappingLookup("L")
    lookup.set(data)
    data["k"] = "changed"
    assert lookup["k"] == "v"


@given(st.dictionaries(st.text(), st.integers(-(2**63), 2**63 - 1) | st.text() | st.none()))
def test_serialize_round_trips(table: dict[str, Any]) -> None:
    a, b = MappingLookup("A"), MappingLookup("B")
    a.set(table)
    b.deserialize(a.serialize())
    assert dict(b) == table


def test_deserialize_refuses_non_objects() -> None:
    with pytest.raises(ValueError, match="MappingLookup 'L'"):
        MappingLookup("L").deserialize(b"[1, 2]")


class Enrich(Processor):
    def process(self, context: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
        assert self.Pipeline is not None
        assert self.Pipeline.Pump is not None
        countries = self.Pipeline.Pump.locate_lookup("Countries")
        assert isinstance(countries, MappingLookup)
        event["country"] = countries.get(event["cc"], "unknown")
        return event


def test_processors_find_lookups_through_their_pump() -> None:
    pump = Pump()
    lookup = pump.add_lookup(MappingLookup("Countries"))
    assert isinstance(lookup, MappingLookup)
    lookup.set({"cz": "Czechia"})
    p = pump.add_pipeline(Pipeline("P"))
    p.build([], Enrich(), ListSink())
    outputs = run_pipeline(p, [{"cc": "cz"}, {"cc": "xx"}]).outputs
    assert [e["country"] for e in outputs] == ["Czechia", "unknown"]
    with pytest.raises(KeyError, match=r"no lookup .Nope. \(known: Countries"):
        pump.locate_lookup("Nope")


def test_base_lookup_without_provider_does_not_load() -> None:
    assert Lookup("L").load() is False


def test_load_counts_what_happened_and_keeps_the_table_on_failure() -> None:
    lookup = MappingLookup("L", provider=Versions({"a": 1}, None, OSError("gone")))
    assert lookup.load()
    assert not lookup.load()
    with pytest.raises(OSError, match="gone"):
        lookup.load()
    assert dict(lookup) == {"a": 1}
    assert lookup.statistics() == LookupStatistics(version=1, loaded=1, unchanged=1, failed=1)


def test_an_async_provider_is_not_called_synchronously() -> None:
    class AsyncProvider:
        async def load(self) -> Mapping[str, Any] | None:
            return {}

    with pytest.raises(TypeError, match="'L': its provider's load\\(\\) is async"):
        MappingLookup("L", provider=AsyncProvider()).load()


def test_refresh_period_makes_a_periodic_refresh_trigger() -> None:
    assert MappingLookup("L").refresh is None
    refresh = MappingLookup("L", {"refresh_period": "90"}).refresh
    assert isinstance(refresh, PeriodicTrigger)
    assert refresh.interval == 90.0
    with use_settings(Settings.from_ini("[lookup:L]\nrefresh_period = 5\noptional = yes\n")):
        configured = MappingLookup("L")
    assert isinstance(configured.refresh, PeriodicTrigger)
    assert (configured.refresh.interval, configured.optional) == (5.0, True)


@pytest.mark.parametrize(
    ("config", "refresh", "message"),
    [
        ({"refresh_period": -1}, None, "'refresh_period' must be a finite number of seconds >= 0"),
        ({"refresh_period": "inf"}, None, "'refresh_period' must be a finite"),
        ({"refresh_period": 5}, PeriodicTrigger(5), "give refresh= or the config key"),
        ({"refresh": 5}, None, "unknown config key 'refresh'"),
    ],
)
def test_refresh_config_mistakes(
    config: dict[str, Any], refresh: PeriodicTrigger | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        MappingLookup("L", config, refresh=refresh)


def countries_pump(lookup: Lookup) -> tuple[Pump, ListSink]:
    pump = Pump()
    pump.add_lookup(lookup)
    sink = ListSink()
    pump.add_pipeline(Pipeline("P")).build(IteratorSource([{"cc": "cz"}]), Enrich(), sink)
    return pump, sink


def settle(machine: RunMachine, now: float) -> Step:
    """Poll until the machine waits; it must ask for nothing on the way."""
    while True:
        step = machine.poll(now, 0.0)
        assert step.commands == ()
        if not step.again:
            return step


def test_the_machine_loads_before_the_first_event_and_refreshes_when_due() -> None:
    lookup = MappingLookup(
        "Countries",
        {"refresh_period": 30},
        provider=Versions({"cz": "Czechia"}, {"cz": "Česko"}),
    )
    pump, sink = countries_pump(lookup)
    machine = RunMachine(pump, serving=True)
    (load,) = machine.poll(0.0, 0.0).commands
    assert isinstance(load, Load)
    assert (load.lookup, load.is_async, machine.phase) == (lookup, False, "opening")
    assert machine.poll(0.0, 0.0) == Step()  # waits for the load: no event yet
    assert sink.Events == []
    machine.done(load, 0.0, load.function())
    assert settle(machine, 0.0).wake == 30.0  # the refresh due at start was the load at start
    assert sink.Events == [{"cc": "cz", "country": "Czechia"}]

    (refresh,) = machine.poll(30.0, 0.0).commands
    assert isinstance(refresh, Load)
    assert settle(machine, 30.0) == Step()  # one load at a time: no wake for it meanwhile
    machine.failed(refresh, 30.0, OSError("down"))
    assert dict(lookup) == {"cz": "Czechia"}  # kept
    assert settle(machine, 30.0).wake == 60.0
    (again,) = machine.poll(61.0, 0.0).commands
    assert isinstance(again, Load)
    machine.done(again, 61.0, again.function())
    assert dict(lookup) == {"cz": "Česko"}
    assert lookup.statistics() == LookupStatistics(version=2, loaded=2, unchanged=0, failed=1)
    machine.request_stop()
    while not machine.finished:
        assert settle(machine, 62.0) is not None


def test_a_failed_load_at_start_closes_the_run_with_the_error() -> None:
    lookup = MappingLookup("Countries", provider=Versions(OSError("down")))
    pump, sink = countries_pump(lookup)
    machine = RunMachine(pump)
    (load,) = machine.poll(0.0, 0.0).commands
    machine.failed(load, 0.0, OSError("down"))
    settle(machine, 0.0)
    assert machine.finished
    assert isinstance(machine.error, LookupLoadError)
    assert "lookup 'Countries' failed to load at start" in str(machine.error)
    assert sink.Events == []


def test_an_optional_or_lazy_lookup_does_not_stop_the_run() -> None:
    optional = MappingLookup("Countries", {"optional": True}, provider=Versions(OSError("x")))
    pump, sink = countries_pump(optional)
    lazy = pump.add_lookup(MappingLookup("Lazy", provider=Versions(), lazy=True))
    machine = RunMachine(pump)
    (load,) = machine.poll(0.0, 0.0).commands  # the lazy lookup is not loaded
    assert isinstance(load, Load)
    machine.failed(load, 0.0, OSError("x"))
    settle(machine, 0.0)
    assert machine.finished  # a refresh-less run of one event ends by itself
    assert machine.error is None
    assert sink.Events == [{"cc": "cz", "country": "unknown"}]
    assert lazy.statistics().loaded == 0


def test_a_refresh_schedule_does_not_keep_a_finished_run_alive() -> None:
    lookup = MappingLookup("Countries", {"refresh_period": 10}, provider=Versions({}))
    machine = RunMachine(countries_pump(lookup)[0])
    (load,) = machine.poll(0.0, 0.0).commands
    machine.done(load, 0.0, {})
    settle(machine, 0.0)
    assert machine.finished


def test_a_refresh_trigger_cannot_be_shared() -> None:
    trigger = PeriodicTrigger(10)

    class Ticks(TriggerSource):
        def cycle(self) -> None:
            self.process({"cc": "cz"})

    lookup = MappingLookup("Countries", provider=Versions(), refresh=trigger)
    pump, _ = countries_pump(lookup)
    pump.add_pipeline(Pipeline("Q")).build(Ticks().on(trigger), ListSink())
    with pytest.raises(ConfigError, match=r"'Countries': its refresh trigger .* of a source"):
        RunMachine(pump)
