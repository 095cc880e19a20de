"""BSPump's common processors: scripted events with exact outputs, then their invariants."""

from __future__ import annotations

import binascii
import datetime
import json
from collections.abc import Mapping
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pumpcore import ConfigError, Pipeline, Processor, Settings, Step
from pumpcore.common import (
    BytesToStringParser,
    DictToJsonBytesParser,
    FlattenDictProcessor,
    HexlifyProcessor,
    IteratorGenerator,
    JsonBytesToDictParser,
    ListSink,
    MappingItemsGenerator,
    MappingItemsProcessor,
    MappingKeysGenerator,
    MappingKeysProcessor,
    MappingTransformator,
    MappingValuesGenerator,
    MappingValuesProcessor,
    StdDictToJsonParser,
    StdJsonToDictParser,
    StringToBytesParser,
    TimeZoneNormalizer,
    Transformation,
)


def run(
    *steps: Step, events: list[Any], settings: Settings | None = None, soft: bool = False
) -> tuple[Pipeline, ListSink]:
    """Build ``steps`` + a ListSink into a pipeline and feed it ``events``."""
    pipeline = Pipeline("P", settings=settings, error_policy="soft" if soft else "hard")
    sink = ListSink()
    pipeline.build([], *steps, sink)
    pipeline.process_events(events)
    return pipeline, sink


def counters(pipeline: Pipeline) -> dict[str, int]:
    s = pipeline.statistics()
    return {
        "in": s.event_in,
        "out": s.event_out,
        "drop": s.event_drop,
        "generated": s.event_generated,
        "absorbed": s.event_absorbed,
        "warning": s.warning,
        "error": s.error,
    }


def failed_with(pipeline: Pipeline) -> type[Exception]:
    """The exception class of the hard failure that stopped ``pipeline``."""
    failure = pipeline.last_error
    assert failure is not None
    return type(failure.exception)


# Text JSON can carry; orjson (and UTF-8) refuse lone surrogates.
json_text = st.text(st.characters(codec="utf-8"), max_size=12)
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    # orjson's integers are 64-bit; the standard library's are not limited.
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | json_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_text, children, max_size=4)
    ),
    max_leaves=15,
)
# A processor returning None drops the event, so a top-level JSON null is tested on its own.
json_documents = json_values.filter(lambda value: value is not None)


# ---------------------------------------------------------------- bytes


def test_string_to_bytes_encodes_with_utf8_by_default() -> None:
    pipeline, sink = run(StringToBytesParser(), events=["abc", "žluť"])
    assert sink.Events == [b"abc", "žluť".encode()]
    assert counters(pipeline)["out"] == 2


def test_string_to_bytes_uses_the_configured_encoding() -> None:
    _, sink = run(StringToBytesParser(config={"encoding": "latin-1"}), events=["é"])
    assert sink.Events == [b"\xe9"]


def test_encoding_comes_from_the_components_ini_section() -> None:
    settings = Settings.from_mapping({"pipeline:P:StringToBytesParser": {"encoding": "utf-16-le"}})
    parser = StringToBytesParser()
    _, sink = run(parser, events=["ab"], settings=settings)
    assert parser.Encoding == "utf-16-le"
    assert sink.Events == [b"a\x00b\x00"]


def test_string_to_bytes_refuses_a_non_string_event() -> None:
    pipeline, sink = run(StringToBytesParser(), events=[b"already bytes", "x"])
    assert sink.Events == []
    assert failed_with(pipeline) is TypeError
    assert counters(pipeline)["error"] == 1


def test_unknown_encoding_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"'encoding'.*no-such-codec"):
        BytesToStringParser(config={"encoding": "no-such-codec"})


def test_bytes_to_string_decodes_bytes_and_bytearray() -> None:
    _, sink = run(BytesToStringParser(), events=[b"abc", bytearray(b"\xc5\xbe")])
    assert sink.Events == ["abc", "ž"]


def test_bytes_to_string_invalid_utf8_goes_to_the_error_policy() -> None:
    pipeline, sink = run(BytesToStringParser(), events=[b"\xff", b"ok"], soft=True)
    assert sink.Events == ["ok"]
    assert counters(pipeline)["warning"] == 1


def test_bytes_to_string_refuses_a_string_event() -> None:
    pipeline, _ = run(BytesToStringParser(), events=["text"])
    assert failed_with(pipeline) is TypeError


@given(st.text(st.characters(codec="utf-8")))
def test_string_bytes_round_trip(text: str) -> None:
    _, sink = run(StringToBytesParser(), BytesToStringParser(), events=[text])
    assert sink.Events == [text]


# ---------------------------------------------------------------- json


def test_std_json_to_dict_parses_text_and_bytes() -> None:
    _, sink = run(StdJsonToDictParser(), events=['{"a": [1, 2]}', b'{"b": null}'])
    assert sink.Events == [{"a": [1, 2]}, {"b": None}]


def test_std_dict_to_json_writes_text() -> None:
    _, sink = run(StdDictToJsonParser(), events=[{"a": 1, "b": [True, None]}])
    assert sink.Events == ['{"a": 1, "b": [true, null]}']


def test_dict_to_json_bytes_writes_compact_bytes() -> None:
    _, sink = run(DictToJsonBytesParser(), events=[{"a": 1, "b": "ž"}])
    assert sink.Events == [b'{"a":1,"b":"\xc5\xbe"}']


def test_json_bytes_to_dict_parses_bytes() -> None:
    _, sink = run(JsonBytesToDictParser(), events=[b'{"a": {"b": 1.5}}', b"[]"])
    assert sink.Events == [{"a": {"b": 1.5}}, []]


def test_orjson_parsers_keep_the_encoding_key_for_bspump_compatibility() -> None:
    parser = DictToJsonBytesParser(config={"encoding": "ascii"})
    assert parser.Encoding == "ascii"
    assert JsonBytesToDictParser().Encoding == "utf-8"
    with pytest.raises(ConfigError, match="unknown config key"):
        StdJsonToDictParser(config={"encoding": "utf-8"})


@pytest.mark.parametrize(
    ("parser", "bad"),
    [
        (StdJsonToDictParser, '{"a": '),
        (StdJsonToDictParser, b"\xff"),
        (JsonBytesToDictParser, b"{'single': 'quotes'}"),
        (JsonBytesToDictParser, b"\xff"),
    ],
)
def test_invalid_json_raises_into_the_error_policy(parser: type[Processor], bad: Any) -> None:
    pipeline, sink = run(parser(), events=[bad, "[1]"])
    assert sink.Events == []
    assert issubclass(failed_with(pipeline), ValueError)
    assert counters(pipeline) == {
        "in": 1, "out": 0, "drop": 0, "generated": 0, "absorbed": 0, "warning": 0, "error": 1,
    }  # fmt: skip


@pytest.mark.parametrize("parser", [StdJsonToDictParser, JsonBytesToDictParser])
def test_a_json_null_document_is_dropped_and_counted(parser: type[Processor]) -> None:
    # None is the pipeline's "drop" signal: a bare `null` document cannot travel as an event.
    pipeline, sink = run(parser(), events=[b"null", b"0"])
    assert sink.Events == [0]
    assert counters(pipeline)["drop"] == 1


def test_invalid_json_is_a_warning_under_the_soft_policy() -> None:
    pipeline, sink = run(JsonBytesToDictParser(), events=[b"{", b"{}", b"nope"], soft=True)
    assert sink.Events == [{}]
    assert counters(pipeline)["warning"] == 2


@pytest.mark.parametrize("serializer", [StdDictToJsonParser, DictToJsonBytesParser])
def test_unserializable_event_raises(serializer: type[Processor]) -> None:
    pipeline, _ = run(serializer(), events=[{"when": object()}])
    assert failed_with(pipeline) is TypeError


@given(json_documents)
def test_std_json_round_trip(value: Any) -> None:
    _, sink = run(StdDictToJsonParser(), StdJsonToDictParser(), events=[value])
    assert sink.Events == [value]


@given(json_documents)
def test_orjson_round_trip(value: Any) -> None:
    _, sink = run(DictToJsonBytesParser(), JsonBytesToDictParser(), events=[value])
    assert sink.Events == [value]


@given(json_documents)
def test_both_json_flavours_read_each_others_output(value: Any) -> None:
    _, sink = run(
        DictToJsonBytesParser(),
        StdJsonToDictParser(),
        StdDictToJsonParser(),
        JsonBytesToDictParser(),
        events=[value],
    )
    assert sink.Events == [value]


# ---------------------------------------------------------------- flatten

PERSON = {
    "person": {
        "details": {"first_name": "John", "last_name": "Doe"},
        "address": {"country": "GB", "city": "London", "postal_code": "WC2N 5DU"},
    }
}


def test_flatten_the_bspump_example() -> None:
    _, sink = run(FlattenDictProcessor(), events=[PERSON])
    assert sink.Events == [
        {
            "person.details.first_name": "John",
            "person.details.last_name": "Doe",
            "person.address.country": "GB",
            "person.address.city": "London",
            "person.address.postal_code": "WC2N 5DU",
        }
    ]
    # The output keeps the input's order, not only its content.
    assert list(sink.Events[0])[:2] == ["person.details.first_name", "person.details.last_name"]


def test_flatten_brief_example() -> None:
    processor = FlattenDictProcessor()
    assert processor.process({}, {"person": {"details": {"first_name": "John"}}}) == {
        "person.details.first_name": "John"
    }


def test_flatten_uses_the_configured_separator() -> None:
    _, sink = run(FlattenDictProcessor(config={"separator": "__"}), events=[{"a": {"b": 1}}])
    assert sink.Events == [{"a__b": 1}]


def test_flatten_keeps_leaves_lists_and_empty_mappings() -> None:
    event = {"a": [{"x": 1}], "b": {}, "c": {"d": {}, "e": None}, "f": 0}
    _, sink = run(FlattenDictProcessor(), events=[event, {}])
    assert sink.Events == [{"a": [{"x": 1}], "b": {}, "c.d": {}, "c.e": None, "f": 0}, {}]
    assert event["c"] == {"d": {}, "e": None}  # the input is not modified


def test_flatten_survives_nesting_deeper_than_the_recursion_limit() -> None:
    event: dict[str, Any] = {"leaf": 1}
    for _ in range(5000):
        event = {"k": event}
    flat = FlattenDictProcessor().process({}, event)
    assert flat == {".".join(["k"] * 5000 + ["leaf"]): 1}


def test_flatten_refuses_a_non_mapping() -> None:
    pipeline, _ = run(FlattenDictProcessor(), events=[[("a", 1)]])
    assert failed_with(pipeline) is TypeError


def count_leaves(value: Mapping[str, Any]) -> int:
    return sum(count_leaves(v) if isinstance(v, Mapping) and v else 1 for v in value.values())


def unflatten(flat: Mapping[str, Any], separator: str) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        *path, last = key.split(separator)
        node = nested
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return nested


# Keys without the separator (and not empty) make the dotted path unambiguous.
plain_keys = st.text("abcxyz_", min_size=1, max_size=4)
nested_dicts: st.SearchStrategy[dict[str, Any]] = st.recursive(
    st.dictionaries(plain_keys, st.integers() | st.none() | st.lists(st.integers(), max_size=2)),
    lambda children: st.dictionaries(plain_keys, children, max_size=4),
    max_leaves=20,
)


@given(nested_dicts)
def test_flatten_keeps_one_key_per_leaf_and_unflattens_back(event: dict[str, Any]) -> None:
    flat = FlattenDictProcessor().process({}, event)
    assert len(flat) == count_leaves(event)
    assert all(not (isinstance(v, Mapping) and v) for v in flat.values())
    assert unflatten(flat, ".") == event


# ---------------------------------------------------------------- hexlify


def test_hexlify_the_bspump_example() -> None:
    _, sink = run(HexlifyProcessor(), events=[b"\x124Vx", b"", bytearray(b"\xff")])
    assert sink.Events == [b"12345678", b"", b"ff"]


def test_hexlify_refuses_text() -> None:
    pipeline, _ = run(HexlifyProcessor(), events=["12"])
    assert failed_with(pipeline) is TypeError


@given(st.binary())
def test_hexlify_doubles_the_length_and_unhexlifies_back(data: bytes) -> None:
    out = HexlifyProcessor().process({}, data)
    assert len(out) == 2 * len(data)
    assert binascii.unhexlify(out) == data


# ---------------------------------------------------------------- mapping


@pytest.mark.parametrize(
    ("processor", "expected"),
    [
        (MappingKeysProcessor, ["foo"]),
        (MappingValuesProcessor, ["bar"]),
        (MappingItemsProcessor, [("foo", "bar")]),
    ],
)
def test_mapping_processors_turn_a_mapping_into_one_list(
    processor: type[Processor], expected: list[Any]
) -> None:
    pipeline, sink = run(processor(), events=[{"foo": "bar"}])
    assert sink.Events == [expected]
    assert counters(pipeline)["out"] == 1


@pytest.mark.parametrize(
    ("generator", "expected"),
    [
        (MappingKeysGenerator, ["a", "b", "c"]),
        (MappingValuesGenerator, [1, 2, 3]),
        (MappingItemsGenerator, [("a", 1), ("b", 2), ("c", 3)]),
    ],
)
def test_mapping_generators_emit_one_event_each(
    generator: type[Processor], expected: list[Any]
) -> None:
    pipeline, sink = run(generator(), events=[{"a": 1, "b": 2}, {}, {"c": 3}])
    assert sink.Events == expected
    assert counters(pipeline) == {
        "in": 3, "out": 3, "drop": 0, "generated": 3, "absorbed": 3, "warning": 0, "error": 0,
    }  # fmt: skip


def test_mapping_generator_shares_the_events_context() -> None:
    pipeline = Pipeline("P")
    sink = ListSink(keep_contexts=True)
    pipeline.build([], MappingKeysGenerator(), sink)
    context: dict[str, Any] = {"origin": "x"}
    pipeline.process_pairs([(context, {"a": 1, "b": 2})])
    assert sink.Events == ["a", "b"]
    assert sink.Contexts == [context, context]


@pytest.mark.parametrize(
    "component",
    [
        MappingKeysProcessor,
        MappingValuesProcessor,
        MappingItemsProcessor,
        MappingKeysGenerator,
        MappingValuesGenerator,
        MappingItemsGenerator,
    ],
)
def test_mapping_components_refuse_a_non_mapping(component: type[Processor]) -> None:
    pipeline, _ = run(component(), events=[["not", "a", "mapping"]])
    assert failed_with(pipeline) is TypeError


# ---------------------------------------------------------------- iterator generator


def test_iterator_generator_emits_each_element() -> None:
    pipeline, sink = run(IteratorGenerator(), events=[[1, 2, 3], [], (4,), range(5, 7)])
    assert sink.Events == [1, 2, 3, 4, 5, 6]
    assert counters(pipeline) == {
        "in": 4, "out": 6, "drop": 0, "generated": 6, "absorbed": 4, "warning": 0, "error": 0,
    }  # fmt: skip


def test_iterator_generator_refuses_a_non_iterable() -> None:
    pipeline, sink = run(IteratorGenerator(), events=[42])
    assert sink.Events == []
    assert failed_with(pipeline) is TypeError


@given(st.lists(st.lists(st.integers(), max_size=5), max_size=10))
def test_iterator_generator_loses_nothing_and_keeps_order(batches: list[list[int]]) -> None:
    pipeline, sink = run(IteratorGenerator(), events=batches)
    assert sink.Events == [x for batch in batches for x in batch]
    s = pipeline.statistics()
    assert s.event_in + s.event_generated == s.event_out + s.event_absorbed


# ---------------------------------------------------------------- time zone


def test_time_zone_normalizer_prague_winter() -> None:
    normalizer = TimeZoneNormalizer(config={"timezone": "Europe/Prague"})
    _, sink = run(normalizer, events=[datetime.datetime(2000, 12, 30, 23, 59, 59)])
    assert sink.Events == [datetime.datetime(2000, 12, 30, 22, 59, 59)]
    assert sink.Events[0].tzinfo is None


def test_time_zone_normalizer_prague_summer_time() -> None:
    normalizer = TimeZoneNormalizer(config={"timezone": "Europe/Prague"})
    assert normalizer.normalize(datetime.datetime(2000, 7, 1, 0, 30)) == datetime.datetime(
        2000, 6, 30, 22, 30
    )


def test_time_zone_normalizer_defaults_to_utc() -> None:
    moment = datetime.datetime(2021, 3, 4, 5, 6, 7, 8)
    assert TimeZoneNormalizer().normalize(moment) == moment


def test_time_zone_normalizer_converts_an_aware_datetime_from_its_own_zone() -> None:
    normalizer = TimeZoneNormalizer(config={"timezone": "Europe/Prague"})
    aware = datetime.datetime(
        2000, 1, 1, 12, 0, tzinfo=datetime.timezone(-datetime.timedelta(hours=10))
    )
    assert normalizer.normalize(aware) == datetime.datetime(2000, 1, 1, 22, 0)


def test_time_zone_normalizer_field_normalizes_a_mapping_value() -> None:
    normalizer = TimeZoneNormalizer(config={"timezone": "America/New_York", "field": "@ts"})
    event = {"@ts": datetime.datetime(2020, 1, 1, 7, 0), "n": 1}
    _, sink = run(normalizer, events=[event])
    assert sink.Events == [{"@ts": datetime.datetime(2020, 1, 1, 12, 0), "n": 1}]


def test_time_zone_normalizer_reads_its_ini_section() -> None:
    settings = Settings.from_ini("[pipeline:P:TZ]\ntimezone = Asia/Tokyo\n")
    normalizer = TimeZoneNormalizer(id="TZ")
    _, sink = run(normalizer, events=[datetime.datetime(2000, 1, 1, 9, 0)], settings=settings)
    assert sink.Events == [datetime.datetime(2000, 1, 1, 0, 0)]


@pytest.mark.parametrize(
    ("config", "event", "error"),
    [
        ({}, "2000-01-01", TypeError),
        ({"field": "@ts"}, {"other": 1}, KeyError),
        ({"field": "@ts"}, {"@ts": 1}, TypeError),
        ({"field": "@ts"}, ("@ts",), TypeError),
    ],
)
def test_time_zone_normalizer_bad_events_raise(
    config: dict[str, Any], event: Any, error: type[Exception]
) -> None:
    pipeline, _ = run(TimeZoneNormalizer(config=config), events=[event])
    assert failed_with(pipeline) is error


@pytest.mark.parametrize("zone", ["Not/AZone", "", "../etc/passwd"])
def test_unknown_time_zone_is_a_config_error(zone: str) -> None:
    with pytest.raises(ConfigError, match="'timezone'"):
        TimeZoneNormalizer(config={"timezone": zone})


class CustomNormalizer(TimeZoneNormalizer):
    """BSPump's way: override process, call normalize."""

    def process(self, context: dict[str, Any], event: Any) -> Any:
        return {"utc": self.normalize(event["local"])}


def test_time_zone_normalizer_subclass_calls_normalize() -> None:
    normalizer = CustomNormalizer(config={"timezone": "Europe/Prague"})
    _, sink = run(normalizer, events=[{"local": datetime.datetime(2000, 12, 30, 23, 59, 59)}])
    assert sink.Events == [{"utc": datetime.datetime(2000, 12, 30, 22, 59, 59)}]


# ---------------------------------------------------------------- mapping transformator


class Renamer(MappingTransformator):
    def build(self) -> Mapping[Any, Transformation]:
        return {
            "ts": lambda key, value: ("@timestamp", value),
            "price": lambda key, value: (key, float(value)),
            "secret": lambda key, value: None,
        }


def test_mapping_transformator_renames_converts_deletes_and_keeps_the_rest() -> None:
    event = {"ts": 1, "price": "9.5", "secret": "x", "other": [1]}
    _, sink = run(Renamer(), events=[event])
    assert sink.Events == [{"@timestamp": 1, "price": 9.5, "other": [1]}]
    assert event == {"ts": 1, "price": "9.5", "secret": "x", "other": [1]}  # not modified


def test_mapping_transformator_takes_a_mapping_and_a_default() -> None:
    transformator = MappingTransformator(
        mapping={"keep": lambda key, value: (key, value)},
        default=lambda key, value: (key.upper(), value),
    )
    _, sink = run(transformator, events=[{"keep": 1, "up": 2}])
    assert sink.Events == [{"keep": 1, "UP": 2}]


def test_mapping_transformator_without_build_says_what_to_do() -> None:
    with pytest.raises(NotImplementedError, match="override build"):
        MappingTransformator()


def test_mapping_transformator_refuses_a_non_mapping() -> None:
    pipeline, _ = run(Renamer(), events=["ts=1"])
    assert failed_with(pipeline) is TypeError


def test_mapping_transformator_errors_in_a_function_reach_the_error_policy() -> None:
    pipeline, sink = run(Renamer(), events=[{"price": "cheap"}, {"price": "1"}], soft=True)
    assert sink.Events == [{"price": 1.0}]
    assert counters(pipeline)["warning"] == 1


@given(st.dictionaries(st.text(max_size=5), st.integers()))
def test_mapping_transformator_with_an_empty_table_is_the_identity(event: dict[str, int]) -> None:
    assert MappingTransformator(mapping={}).process({}, event) == event


def test_json_parsers_agree_with_the_standard_library() -> None:
    # A fixed document through both parsers, compared with json itself, to catch a parser that
    # silently returns its input.
    document = '{"a": [1, 2.5, "x", null, true], "b": {"c": {}}}'
    expected = json.loads(document)
    assert StdJsonToDictParser().process({}, document) == expected
    assert JsonBytesToDictParser().process({}, document.encode()) == expected
    assert orjson.loads(DictToJsonBytesParser().process({}, expected)) == expected
