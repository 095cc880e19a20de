"""Lookups: whole-table replacement, providers, registration in a Pump."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pumpcore import Pipeline, Processor, Pump
from pumpcore.common import ListSink
from pumpcore.lookup import Lookup, LookupProvider, MappingLookup
from pumpcore.testing import run_pipeline


class Versions(LookupProvider):
    """Answers each table once, then None (unchanged), like an HTTP 304."""

    def __init__(self, *tables: Mapping[str, Any] | None) -> None:
        self.tables = list(tables)

    def load(self) -> Mapping[str, Any] | None:
        return self.tables.pop(0)


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
