"""The strategies users import generate what they promise."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given

from pumpcore.testing import strategies as pst


def parses(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


@given(pst.json_bytes())
def test_json_bytes_are_valid_json_objects(data: bytes) -> None:
    assert isinstance(orjson.loads(data), dict)


@given(pst.json_bytes(malformed=True))
def test_malformed_json_bytes_are_bytes_good_or_bad(data: bytes) -> None:
    assert isinstance(data, bytes)
    if parses(data):
        assert isinstance(orjson.loads(data), dict)


def test_malformed_json_bytes_do_produce_bad_documents() -> None:
    found: list[bytes] = []

    @given(pst.json_bytes(malformed=True))
    def collect(data: bytes) -> None:
        if not parses(data):
            found.append(data)

    collect()
    assert found


@given(pst.event_streams(sources=("a", "b", "c"), max_size=80))
def test_event_streams_keep_per_source_sequence(stream: list[pst.StreamItem]) -> None:
    for source in ("a", "b", "c"):
        originals = [it.seq for it in stream if it.source == source and not it.duplicate]
        assert originals == list(range(len(originals)))
        seen: set[int] = set()
        for item in (it for it in stream if it.source == source):
            if item.duplicate:
                assert item.seq in seen
            seen.add(item.seq)
    for item in stream:
        assert item.malformed == (not isinstance(item.payload, dict))
        if item.malformed:
            assert not parses(item.payload)


@given(pst.event_streams(out_of_order=False, duplicates=False, malformed=False))
def test_streams_can_be_made_orderly(stream: list[pst.StreamItem]) -> None:
    for source in {it.source for it in stream}:
        times = [it.time for it in stream if it.source == source]
        assert times == sorted(times)
    assert not any(it.duplicate or it.malformed for it in stream)


@given(pst.events(), pst.contexts())
def test_events_and_contexts_are_string_keyed_dicts(
    event: dict[str, Any], context: dict[str, Any]
) -> None:
    assert all(isinstance(k, str) for k in event)
    assert all(isinstance(k, str) for k in context)
    assert orjson.loads(orjson.dumps(event)) == event
