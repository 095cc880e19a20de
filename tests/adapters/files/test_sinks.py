"""File sinks (durable on flush, as the executor's commits need) and the JSON lookup provider."""

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
from pumpcore.testing import conformance

from ._proc import linux_proc, open_paths

pytestmark = pytest.mark.timeout(30)

every_executor = pytest.mark.parametrize("executor", conformance.executor_params())


def run_into(
    sink: Any, events: list[Any], policy: str = "soft", executor: str = "sync"
) -> pumpcore_executors.RunReport:
    p = Pipeline("Out", error_policy=policy)  # type: ignore[arg-type]
    p.build(IteratorSource(events), sink)
    extra = {"blocking_threshold": 0.5} if executor in ("asyncio", "trio") else {}
    return pumpcore_executors.run(
        p,
        executor=executor,  # type: ignore[arg-type]
        handle_signals=False,
        **extra,  # type: ignore[arg-type]
    )


@every_executor
def test_csv_sink_writes_a_header_once_and_rows(tmp_path: Path, executor: str) -> None:
    target = tmp_path / "out.csv"
    sink = FileCSVSink(config={"path": str(target)})
    report = run_into(sink, [{"a": 1, "b": "x,y"}, {"a": 2}, {"b": "only b"}], executor=executor)
    with target.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [["a", "b"], ["1", "x,y"], ["2", ""], ["", "only b"]]
    assert report.statistics["Out"].event_out == 3


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
    sink.close()


@every_executor
def test_get_file_name_splits_output_per_event(tmp_path: Path, executor: str) -> None:
    class ByCountry(FileJSONLinesSink):
        def get_file_name(self, context: Context, event: Any) -> str:
            return str(tmp_path / f"{event['country']}.jsonl")

    sink = ByCountry()
    events = [{"country": "cz", "n": 1}, {"country": "sk", "n": 2}, {"country": "cz", "n": 3}]
    run_into(sink, events, executor=executor)
    assert (tmp_path / "cz.jsonl").read_text() == '{"country":"cz","n":1}\n{"country":"cz","n":3}\n'
    assert (tmp_path / "sk.jsonl").read_text() == '{"country":"sk","n":2}\n'


def test_json_lines_sink_appends_by_default_and_truncates_once_in_w_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text('{"old":true}\n')
    run_into(FileJSONLinesSink(config={"path": str(target)}), [1])
    assert target.read_text() == '{"old":true}\n1\n'
    sink = FileJSONLinesSink(config={"path": str(target), "mode": "w"})
    sink.process({}, "a")
    sink.flush()
    sink.close()
    sink.process({}, "b")  # reopened after the close: appended, not truncated again
    sink.flush()
    assert target.read_text() == '"a"\n"b"\n'
    sink.close()


def test_json_lines_sink_counts_events_json_cannot_hold(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    report = run_into(FileJSONLinesSink(config={"path": str(target)}), [{"a": 1}, {1, 2}, [3]])
    assert report.statistics["Out"].warning == 1
    assert target.read_text() == '{"a":1}\n[3]\n'


@every_executor
def test_block_sink_replaces_in_wb_mode_and_appends_in_ab_mode(
    tmp_path: Path, executor: str
) -> None:
    replaced, appended = tmp_path / "r.bin", tmp_path / "a.bin"
    run_into(FileBlockSink(config={"path": str(replaced)}), [b"one", b"two"], executor=executor)
    appending = FileBlockSink(config={"path": str(appended), "mode": "ab"})
    run_into(appending, [b"one", "twö"], executor=executor)
    assert replaced.read_bytes() == b"two"
    assert appended.read_bytes() == "onetwö".encode()


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


@linux_proc
def test_files_stay_open_across_flushes_until_idle_and_close_closes(tmp_path: Path) -> None:
    busy, idle = tmp_path / "busy.jsonl", tmp_path / "idle.jsonl"

    class Routed(FileJSONLinesSink):
        def get_file_name(self, context: Context, event: Any) -> str:
            return str(tmp_path / f"{event['to']}.jsonl")

    sink = Routed()
    sink.process({}, {"to": "busy", "n": 1})
    sink.process({}, {"to": "idle", "n": 1})
    assert busy.read_bytes() == b""  # in Python's buffer until the flush
    sink.flush()
    assert busy.read_text() == '{"to":"busy","n":1}\n'
    assert open_paths(tmp_path) == ["busy.jsonl", "idle.jsonl"]
    sink.process({}, {"to": "busy", "n": 2})
    sink.flush()
    assert open_paths(tmp_path) == ["busy.jsonl"]  # idle since the last flush: closed
    sink.close()
    assert open_paths(tmp_path) == []
    assert idle.read_text() == '{"to":"idle","n":1}\n'


@linux_proc
def test_beyond_max_open_files_the_least_recently_used_is_closed(tmp_path: Path) -> None:
    class Routed(FileJSONLinesSink):
        def get_file_name(self, context: Context, event: Any) -> str:
            return str(tmp_path / f"{event % 5}.jsonl")

    sink = Routed(config={"max_open_files": 2})
    for n in range(20):
        sink.process({}, n)
        assert len(open_paths(tmp_path)) <= 2
    sink.flush()
    sink.close()
    for k in range(5):
        assert (tmp_path / f"{k}.jsonl").read_text() == "".join(f"{n}\n" for n in range(k, 20, 5))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@every_executor
def test_a_write_that_fails_on_flush_is_never_acknowledged(tmp_path: Path, executor: str) -> None:
    # /dev/full accepts the open and fails every write with ENOSPC, as a full disk does.
    (tmp_path / "in.log").write_bytes(b"1\n2\n3\n")
    p = Pipeline("Out", error_policy="soft")
    p.build(
        FileLineSource(config={"path": str(tmp_path / "*.log"), "mode": "r", "watch": False}),
        FileJSONLinesSink(config={"path": "/dev/full"}),
    )
    extra = {"blocking_threshold": 0.5} if executor in ("asyncio", "trio") else {}
    report = pumpcore_executors.run(
        p,
        executor=executor,  # type: ignore[arg-type]
        handle_signals=False,
        **extra,  # type: ignore[arg-type]
    )
    assert report.statistics["Out"].source_error >= 1  # the flush raised, and was reported
    # Nothing acknowledged: the file stays locked at offset 0, for the next run to read again.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".in.log.pumpcore-offset",
        "in.log-locked",
    ]
    assert json.loads((tmp_path / ".in.log.pumpcore-offset").read_text())["offset"] == 0


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
    with pytest.raises(ConfigError, match="'max_open_files' must be >= 1"):
        FileJSONLinesSink(config={"path": "x", "max_open_files": 0})


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
        FileLineSource(config={"path": str(inbox / "*.jsonl"), "watch": False}),
        JsonBytesToDictParser(),
        double,
        FileJSONLinesSink(config={"path": str(out)}),
    )
    report = pumpcore_executors.run(p)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["n"] for line in lines] == [2, 4, 6, 8]
    assert lines[-1]["from"] == "b.jsonl"
    assert report.statistics["Convert"].warning == 1  # "not json", counted by the policy


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


def test_json_lookup_provider_refuses_what_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not an object"):
        FileJSONLookupProvider(path).load()
    path.write_text("{broken")
    with pytest.raises(ValueError, match="Expecting property name"):
        FileJSONLookupProvider(path).load()
