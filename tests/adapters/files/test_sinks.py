"""File sinks (durable on flush, as the executor's commits need) and the JSON lookup provider."""

from __future__ import annotations

import csv
import errno
import io
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
    with pytest.raises(ConfigError, match="invalid csv options"):
        FileCSVSink(config={"path": "x", "delimiter": "too long"})


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


def test_a_restarted_csv_sink_appends_under_the_header_it_finds(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    run_into(FileCSVSink(config={"path": str(target), "lineterminator": "\n"}), [{"a": 1, "b": 2}])
    # A second run, whose first event has its keys in another order: the file's header rules.
    second = FileCSVSink(config={"path": str(target), "lineterminator": "\n"})
    report = run_into(second, [{"b": 4, "a": 3}, {"a": 5, "c": 6}])
    assert report.statistics["Out"].warning == 1  # "c" is not a column of the file
    assert target.read_text() == "a,b\n1,2\n3,4\n"
    target.write_text("")  # an empty file gets a header again
    run_into(FileCSVSink(config={"path": str(target), "lineterminator": "\n"}), [{"x": 1}])
    assert target.read_text() == "x\n1\n"


@pytest.mark.parametrize(
    ("make_sink", "before", "event", "after"),
    [
        (
            lambda path: FileJSONLinesSink(config={"path": path}),
            b'{"n":1}\n{"n":2}\n{"n":',
            {"n": 3},
            b'{"n":1}\n{"n":2}\n{"n":3}\n',
        ),
        (  # the newline inside a quoted field ends no row: that row is torn
            lambda path: FileCSVSink(config={"path": path, "lineterminator": "\n"}),
            b'a,b\n1,"x\n""y"""\n2,"two\nlines',
            {"a": 3, "b": "z"},
            b'a,b\n1,"x\n""y"""\n3,z\n',
        ),
        (
            lambda path: FileCSVSink(config={"path": path, "lineterminator": "\r\n"}),
            b"a\r\n1\r\n2\r",
            {"a": 3},
            b"a\r\n1\r\n3\r\n",
        ),
        (
            lambda path: FileBlockSink(config={"path": path, "mode": "ab", "terminator": "\n"}),
            b"one\ntwo\nthr",
            b"three",
            b"one\ntwo\nthree\n",
        ),
        (
            lambda path: FileBlockSink(config={"path": path, "mode": "ab", "terminator": "<end>"}),
            b"one<end>two<en",
            "three",
            b"one<end>three<end>",
        ),
        (  # no complete record at all: nothing is kept, and the CSV header comes again
            lambda path: FileCSVSink(config={"path": path, "lineterminator": "\n"}),
            b"a,",
            {"a": 1},
            b"a\n1\n",
        ),
    ],
)
def test_a_torn_last_record_is_cut_before_the_sink_appends(
    tmp_path: Path, make_sink: Any, before: bytes, event: Any, after: bytes
) -> None:
    target = tmp_path / "out"
    target.write_bytes(before)  # what a SIGKILL or a full disk left
    sink = make_sink(str(target))
    sink.process({}, event)
    sink.flush()
    sink.close()
    assert target.read_bytes() == after


def test_a_csv_boundary_is_found_across_read_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pumpcore_files import _sinks

    monkeypatch.setattr(_sinks, "_CHUNK", 7)  # terminators and quotes straddle chunk borders
    target = tmp_path / "out.csv"
    rows = [{"a": f'q"{i}\n', "b": i} for i in range(20)]
    config = {"path": str(target), "lineterminator": "\r\n"}
    run_into(FileCSVSink(config=config), rows)
    whole = target.read_bytes()
    target.write_bytes(whole + b'"tor\r\nn')
    run_into(FileCSVSink(config=config), [{"a": "last", "b": 20}])
    with target.open(newline="") as f:
        assert list(csv.DictReader(f)) == [
            {"a": str(row["a"]), "b": str(row["b"])} for row in [*rows, {"a": "last", "b": 20}]
        ]


class FullDisk(io.FileIO):
    """A file on a disk with ``room[0]`` bytes left: a write beyond it is short, the next one
    fails with ENOSPC, as the kernel does."""

    def __init__(self, path: str, mode: str, room: list[int]) -> None:
        super().__init__(path, mode)
        self.room = room

    def write(self, data: Any) -> int:
        chunk = bytes(data)[: self.room[0]]
        if not chunk:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room[0] -= len(chunk)
        written = super().write(chunk)
        assert written is not None
        return written


@pytest.mark.parametrize("kind", ["jsonl", "blocks"])
def test_a_write_that_hits_enospc_raises_and_leaves_no_partial_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    from pumpcore_files import _sinks

    target = tmp_path / "out"
    room = [40]
    real_open = open

    def small_disk(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if str(path) == str(target) and mode == "ab":
            return io.BufferedWriter(FullDisk(str(path), "a", room))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(_sinks, "open", small_disk, raising=False)
    if kind == "jsonl":
        sink: Any = FileJSONLinesSink(config={"path": str(target)})
    else:
        sink = FileBlockSink(config={"path": str(target), "mode": "ab", "terminator": "\n"})
    line = "x" * 15  # 16 bytes with its terminator, 18 as JSON
    sink.process({}, line)
    sink.flush()
    durable = target.read_bytes()
    sink.process({}, line)
    sink.process({}, line)  # beyond the room: the flush writes part of it, then fails
    with pytest.raises(OSError, match="No space left") as failed:
        sink.flush()
    assert failed.value.errno == errno.ENOSPC
    assert failed.value.filename == str(target)
    assert type(sink).__name__ in str(failed.value)
    assert target.read_bytes() == durable  # cut back to the last flush: no partial record
    room[0] = 1000  # space freed
    sink.process({}, "after")
    sink.flush()
    sink.close()
    assert target.read_bytes() == durable + (b'"after"\n' if kind == "jsonl" else b"after\n")
