"""File sinks and the JSON file lookup provider."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pumpcore_executors
import pytest
from pumpcore_files import (
    FileBlockSink,
    FileCSVSink,
    FileJSONLinesSink,
    FileJSONLookupProvider,
    FileLineSource,
)

from pumpcore import ConfigError, Context, Pipeline
from pumpcore.common import IteratorSource, JsonBytesToDictParser
from pumpcore.lookup import MappingLookup
from pumpcore.testing import VirtualClock
from pumpcore.trigger import RunOnceTrigger


def run_into(sink: Any, events: list[Any], policy: str = "soft") -> pumpcore_executors.RunReport:
    p = Pipeline("Out", error_policy=policy)  # type: ignore[arg-type]
    p.build(IteratorSource(events), sink)
    return pumpcore_executors.run(p)


@pytest.mark.timeout(30)
def test_csv_sink_writes_a_header_once_and_rows(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    sink = FileCSVSink(config={"path": str(target)})
    report = run_into(sink, [{"a": 1, "b": "x,y"}, {"a": 2}, {"b": "only b"}])
    with target.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [["a", "b"], ["1", "x,y"], ["2", ""], ["", "only b"]]
    assert report.statistics["Out"].event_out == 3


@pytest.mark.timeout(30)
def test_csv_sink_rejects_unknown_columns_and_non_mappings_through_the_policy(
    tmp_path: Path,
) -> None:
    target = tmp_path / "out.csv"
    sink = FileCSVSink(config={"path": str(target), "lineterminator": "\n"})
    report = run_into(sink, [{"a": 1}, {"a": 2, "surprise": 3}, {"a": 4}])
    assert report.statistics["Out"].warning == 1
    assert target.read_text() == "a\n1\n4\n"
    with pytest.raises(TypeError, match="expects a mapping"):
        FileCSVSink(config={"path": str(tmp_path / "other.csv")}).process({}, [1, 2])


@pytest.mark.timeout(30)
def test_csv_sink_appends_after_flush_and_starts_over_after_rotate(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    sink = FileCSVSink(config={"path": str(target), "lineterminator": "\n", "delimiter": ";"})
    sink.process({}, {"a": 1, "b": 2})
    sink.flush()
    assert target.read_text() == "a;b\n1;2\n"
    sink.process({}, {"a": 3, "b": 4})
    sink.flush()
    assert target.read_text() == "a;b\n1;2\n3;4\n"
    sink.rotate()
    sink.process({}, {"z": 9})
    sink.flush()
    assert target.read_text() == "z\n9\n"


@pytest.mark.timeout(30)
def test_get_file_name_splits_output_per_event(tmp_path: Path) -> None:
    class ByCountry(FileJSONLinesSink):
        def get_file_name(self, context: Context, event: Any) -> str:
            return str(tmp_path / f"{event['country']}.jsonl")

    sink = ByCountry()
    run_into(
        sink, [{"country": "cz", "n": 1}, {"country": "sk", "n": 2}, {"country": "cz", "n": 3}]
    )
    assert (tmp_path / "cz.jsonl").read_text() == '{"country":"cz","n":1}\n{"country":"cz","n":3}\n'
    assert (tmp_path / "sk.jsonl").read_text() == '{"country":"sk","n":2}\n'


@pytest.mark.timeout(30)
def test_json_lines_sink_appends_by_default_and_truncates_once_in_w_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text('{"old":true}\n')
    run_into(FileJSONLinesSink(config={"path": str(target)}), [1])
    assert target.read_text() == '{"old":true}\n1\n'
    sink = FileJSONLinesSink(config={"path": str(target), "mode": "w"})
    sink.process({}, "a")
    sink.flush()
    sink.process({}, "b")  # reopened after the flush: appended, not truncated again
    sink.flush()
    assert target.read_text() == '"a"\n"b"\n'


@pytest.mark.timeout(30)
def test_json_lines_sink_counts_events_json_cannot_hold(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    report = run_into(FileJSONLinesSink(config={"path": str(target)}), [{"a": 1}, {1, 2}, [3]])
    assert report.statistics["Out"].warning == 1
    assert target.read_text() == '{"a":1}\n[3]\n'


@pytest.mark.timeout(30)
def test_block_sink_replaces_in_wb_mode_and_appends_in_ab_mode(tmp_path: Path) -> None:
    replaced, appended = tmp_path / "r.bin", tmp_path / "a.bin"
    run_into(FileBlockSink(config={"path": str(replaced)}), [b"one", b"two"])
    run_into(FileBlockSink(config={"path": str(appended), "mode": "ab"}), [b"one", "twö"])
    assert replaced.read_bytes() == b"two"
    assert appended.read_bytes() == "onetwö".encode()


@pytest.mark.timeout(30)
def test_block_sink_flags_and_types_go_through_the_error_policy(tmp_path: Path) -> None:
    existing = tmp_path / "exists.bin"
    existing.write_bytes(b"keep me")
    excl = FileBlockSink(config={"path": str(existing), "flags": "O_CREAT, O_EXCL"})
    report = run_into(excl, [b"overwrite?"])
    assert report.statistics["Out"].warning == 1
    assert existing.read_bytes() == b"keep me"
    no_create = FileBlockSink(config={"path": str(tmp_path / "missing.bin"), "flags": ""})
    assert run_into(no_create, [b"x"]).statistics["Out"].warning == 1
    assert not (tmp_path / "missing.bin").exists()
    assert (
        run_into(FileBlockSink(config={"path": str(tmp_path / "t")}), [42])
        .statistics["Out"]
        .warning
        == 1
    )


def test_sink_configuration_mistakes_are_refused() -> None:
    with pytest.raises(ConfigError, match="'path' is empty"):
        Pipeline("P").build(IteratorSource([]), FileCSVSink())
    with pytest.raises(ConfigError, match="unknown flag 'O_SYNC'"):
        FileBlockSink(config={"path": "x", "flags": "O_SYNC"})
    with pytest.raises(ConfigError, match="'mode' must be 'wb' or 'ab'"):
        FileBlockSink(config={"path": "x", "mode": "w"})
    with pytest.raises(ConfigError, match="'mode' must be 'a' or 'w'"):
        FileJSONLinesSink(config={"path": "x", "mode": "ab"})
    with pytest.raises(ConfigError, match="invalid csv options"):
        FileCSVSink(config={"path": "x", "delimiter": "too long"})


@pytest.mark.timeout(30)
def test_files_in_to_json_lines_out(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.jsonl").write_bytes(b'{"n": 1}\n{"n": 2}\n')
    (inbox / "b.jsonl").write_bytes(b'{"n": 3}\nnot json\n{"n": 4}\n')
    out = tmp_path / "out.jsonl"

    def double(context: dict[str, Any], event: dict[str, int]) -> dict[str, Any]:
        return {"n": event["n"] * 2, "from": os.path.basename(context["filename"])}

    p = Pipeline("Convert", error_policy="soft")
    p.build(
        FileLineSource(config={"path": str(inbox / "*.jsonl")}).on(RunOnceTrigger()),
        JsonBytesToDictParser(),
        double,
        FileJSONLinesSink(config={"path": str(out)}),
    )
    report = pumpcore_executors.run(p, clock=VirtualClock())
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["n"] for line in lines] == [2, 4, 6, 8]
    assert lines[-1]["from"] == "b.jsonl"
    assert report.statistics["Convert"].warning == 1  # "not json", counted by the policy


@pytest.mark.timeout(30)
def test_json_lookup_provider_loads_only_when_the_file_changed(tmp_path: Path) -> None:
    path = tmp_path / "countries.json"
    path.write_text('{"cz": "Czechia"}')
    provider = FileJSONLookupProvider(path)
    lookup = MappingLookup("Countries", provider=provider)
    assert lookup.load() is True
    assert dict(lookup) == {"cz": "Czechia"}
    assert provider.load() is None
    replacement = tmp_path / "countries.json.tmp"
    replacement.write_text('{"cz": "Czechia", "sk": "Slovakia"}')
    os.replace(replacement, path)
    assert lookup.load() is True
    assert lookup["sk"] == "Slovakia"
    assert lookup.version == 2


@pytest.mark.timeout(30)
def test_json_lookup_provider_refuses_what_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not an object"):
        FileJSONLookupProvider(path).load()
    path.write_text("{broken")
    with pytest.raises(ValueError, match="Expecting property name"):
        FileJSONLookupProvider(path).load()
