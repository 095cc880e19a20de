"""File sources: BSPump's lock / read / finalize protocol, formats, compression, bad input."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
from pathlib import Path
from typing import Any

import pumpcore_executors
import pytest
from pumpcore_files import (
    FileBlockSource,
    FileCSVSource,
    FileJSONSource,
    FileLineSource,
    FileMultiLineSource,
    FileReadError,
)

from pumpcore import ConfigError, Failure, Pipeline, TriggerSource
from pumpcore.common import ListSink
from pumpcore.testing import VirtualClock
from pumpcore.trigger import PeriodicTrigger, RunOnceTrigger


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def build(
    source: TriggerSource, *steps: Any, policy: Any = "soft", trigger: Any = None
) -> tuple[Pipeline, ListSink, list[Failure]]:
    sink = ListSink(keep_contexts=True)
    p = Pipeline("Files", error_policy=policy)
    p.build(source.on(trigger or RunOnceTrigger()), *steps, sink)
    failures: list[Failure] = []
    p.add_failure_listener(failures.append)
    return p, sink, failures


def run(p: Pipeline, stop_after: float | None = None) -> pumpcore_executors.RunReport:
    return pumpcore_executors.run(p, clock=VirtualClock(), stop_after=stop_after)


@pytest.mark.timeout(30)
def test_lines_of_every_file_in_order_then_files_are_marked_processed(tmp_path: Path) -> None:
    (tmp_path / "b.log").write_bytes(b"b1\nb2\n")
    (tmp_path / "a.log").write_bytes(b"a1\na2\n")
    (tmp_path / "notes.txt").write_bytes(b"not matched\n")
    source = FileLineSource(config={"path": str(tmp_path / "*.log")})
    p, sink, _ = build(source)
    report = run(p)
    assert sink.Events == [b"a1", b"a2", b"b1", b"b2"]
    assert [c["filename"] for c in sink.Contexts] == [str(tmp_path / "a.log")] * 2 + [
        str(tmp_path / "b.log")
    ] * 2
    assert names(tmp_path) == ["a.log-processed", "b.log-processed", "notes.txt"]
    assert report.statistics["Files"].event_out == 4
    assert source.statistics().files_processed == 2


@pytest.mark.timeout(30)
def test_offsets_say_where_reading_resumes_after_each_line(tmp_path: Path) -> None:
    data = "first\r\n\nthird ü\nlast without newline".encode()
    (tmp_path / "x.log").write_bytes(data)
    source = FileLineSource(config={"path": str(tmp_path / "x.log"), "mode": "r"})
    p, sink, _ = build(source)
    run(p)
    assert sink.Events == ["first", "", "third ü", "last without newline"]
    offsets = [c["offset"] for c in sink.Contexts]
    assert offsets == [7, 8, 17, len(data)]  # "ü" is two bytes
    for line, offset in zip(sink.Events[1:], offsets, strict=False):
        assert data[offset:].decode().startswith(line)


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [(".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)],
)
@pytest.mark.timeout(30)
def test_compressed_files_are_read_transparently(
    tmp_path: Path, suffix: str, compress: Any
) -> None:
    lines = [f"line {i}".encode() for i in range(500)]
    (tmp_path / f"big.log{suffix}").write_bytes(compress(b"\n".join(lines) + b"\n"))
    source = FileLineSource(config={"path": str(tmp_path / "*")})
    p, sink, _ = build(source)
    run(p)
    assert sink.Events == lines
    assert sink.Contexts[-1]["offset"] == sum(len(line) + 1 for line in lines)
    assert names(tmp_path) == [f"big.log{suffix}-processed"]


@pytest.mark.timeout(30)
def test_post_delete_removes_files(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(b"x\n")
    p, sink, _ = build(FileLineSource(config={"path": str(tmp_path / "*"), "post": "delete"}))
    run(p)
    assert sink.Events == [b"x"]
    assert names(tmp_path) == []


@pytest.mark.timeout(30)
def test_post_move_to_a_destination_folder(tmp_path: Path) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    inbox.mkdir()
    (inbox / "a.log").write_bytes(b"x\n")
    config = {"path": str(inbox / "*"), "move_destination": str(done)}
    p, sink, _ = build(FileLineSource(config=config))
    run(p)
    assert sink.Events == [b"x"]
    assert names(inbox) == []
    assert names(done) == ["a.log-processed"]


@pytest.mark.timeout(30)
def test_post_noop_leaves_files_and_a_periodic_trigger_does_not_emit_them_twice(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"x\n")
    source = FileLineSource(config={"path": str(tmp_path / "*"), "post": "noop"})
    _p, sink, _ = build(source)
    source.cycle()
    source.cycle()
    assert sink.Events == [b"x"]
    assert names(tmp_path) == ["a.log"]
    path.write_bytes(b"x\ny\n")  # changed: read again
    source.cycle()
    assert sink.Events == [b"x", b"x", b"y"]


@pytest.mark.timeout(30)
def test_a_periodic_trigger_picks_up_files_that_arrive_later(tmp_path: Path) -> None:
    def drop_another(context: dict[str, Any], event: bytes) -> bytes:
        if event == b"first":  # a file arrives while the pump runs
            (tmp_path / "z.log").write_bytes(b"second\n")
        return event

    source = FileLineSource(config={"path": str(tmp_path / "*.log")})
    (tmp_path / "a.log").write_bytes(b"first\n")
    p, sink, _ = build(source, drop_another, trigger=PeriodicTrigger(10))
    run(p, stop_after=25)
    assert sink.Events == [b"first", b"second"]
    assert names(tmp_path) == ["a.log-processed", "z.log-processed"]


@pytest.mark.timeout(30)
def test_locked_failed_and_processed_names_and_filters_are_respected(tmp_path: Path) -> None:
    for name in ("a.log-locked", "b.log-failed", "c.log-processed", "d.log", "skip.log", "e.log"):
        (tmp_path / name).write_bytes(name.encode() + b"\n")
    config = {
        "path": str(tmp_path / "*"),
        "include": "*.log",
        "exclude": "*skip*",
    }
    p, sink, _ = build(FileLineSource(config=config))
    run(p)
    assert sink.Events == [b"d.log", b"e.log"]


@pytest.mark.timeout(30)
def test_a_stale_lock_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "a.log-locked").write_bytes(b"left by a crash\n")
    (tmp_path / "a.log").write_bytes(b"new delivery\n")
    (tmp_path / "b.log").write_bytes(b"b\n")
    p, sink, failures = build(FileLineSource(config={"path": str(tmp_path / "*")}))
    report = run(p)
    assert sink.Events == [b"b"]
    assert names(tmp_path) == ["a.log", "a.log-locked", "b.log-processed"]
    assert (tmp_path / "a.log-locked").read_bytes() == b"left by a crash\n"
    assert report.statistics["Files"].source_error == 1
    assert isinstance(failures[0].exception.__cause__, FileExistsError)


@pytest.mark.timeout(30)
def test_several_globs_joined_by_pathsep(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "one" / "a.log").write_bytes(b"1\n")
    (tmp_path / "two" / "b.log").write_bytes(b"2\n")
    path = os.pathsep.join([str(tmp_path / "two" / "*"), str(tmp_path / "one" / "*")])
    p, sink, _ = build(FileLineSource(config={"path": path}))
    run(p)
    assert sink.Events == [b"2", b"1"]


@pytest.mark.timeout(30)
def test_invalid_utf8_and_truncated_gzip_fail_their_file_and_the_others_go_on(
    tmp_path: Path,
) -> None:
    (tmp_path / "1-good.log").write_bytes(b"good one\n")
    (tmp_path / "2-bad-utf8.log").write_bytes(b"fine\nbad \xff\xfe bytes\nnever\n")
    whole = gzip.compress(b"".join(f"gz {i}\n".encode() for i in range(2000)))
    (tmp_path / "3-truncated.log.gz").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "4-good.log").write_bytes(b"good two\n")
    source = FileLineSource(config={"path": str(tmp_path / "*"), "mode": "r"})
    p, sink, failures = build(source)
    report = run(p)
    assert names(tmp_path) == [
        "1-good.log-processed",
        "2-bad-utf8.log-failed",
        "3-truncated.log.gz-failed",
        "4-good.log-processed",
    ]
    assert sink.Events[0] == "good one"
    assert sink.Events[1] == "fine"  # emitted before the bad line; the file is kept as -failed
    assert sink.Events[-1] == "good two"
    assert report.statistics["Files"].source_error == 2
    errors = [f.exception for f in failures]
    assert all(isinstance(e, FileReadError) for e in errors)
    assert [Path(e.filename).name for e in errors if isinstance(e, FileReadError)] == [
        "2-bad-utf8.log",
        "3-truncated.log.gz",
    ]
    assert isinstance(errors[0].__cause__, UnicodeDecodeError)
    assert isinstance(errors[1].__cause__, EOFError)
    assert source.statistics().files_failed == 2
    assert report.errors == {}


@pytest.mark.timeout(30)
def test_a_read_error_under_the_hard_policy_stops_and_leaves_the_rest(tmp_path: Path) -> None:
    (tmp_path / "1-bad.log").write_bytes(b"\xff\n")
    (tmp_path / "2-good.log").write_bytes(b"good\n")
    p, sink, _ = build(
        FileLineSource(config={"path": str(tmp_path / "*"), "mode": "r"}), policy="hard"
    )
    report = run(p)
    assert sink.Events == []
    assert names(tmp_path) == ["1-bad.log-failed", "2-good.log"]
    assert "FileReadError" in report.errors["Files"]


@pytest.mark.timeout(30)
def test_a_hard_event_failure_mid_file_gives_the_file_back_to_be_read_again(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.log").write_bytes(b"1\n2\n3\n")
    (tmp_path / "b.log").write_bytes(b"4\n")
    fail = [True]

    def flaky(context: dict[str, Any], event: bytes) -> bytes:
        if event == b"2" and fail[0]:
            raise ValueError("two")
        return event

    source = FileLineSource(config={"path": str(tmp_path / "*")})
    p, sink, _ = build(source, flaky, policy="hard")
    source.cycle()
    assert sink.Events == [b"1"]
    assert names(tmp_path) == ["a.log", "b.log"]  # given back, and b.log left alone
    assert source.statistics().files_interrupted == 1
    fail[0] = False
    p.recover()
    source.cycle()
    assert sink.Events == [b"1", b"1", b"2", b"3", b"4"]  # at least once: "1" again
    assert names(tmp_path) == ["a.log-processed", "b.log-processed"]


@pytest.mark.timeout(30)
def test_multi_line_records_start_at_the_separator(tmp_path: Path) -> None:
    data = (
        b"<133>1 2018-03-24T02:37:01+00:00 machine program 22068 - Start\n"
        b"\t2nd line of the event\n"
        b"\t3rd line of the event\n"
        b"<133>1 2018-03-24T02:37:01+00:00 machine program 22068 - New event\n"
    )
    (tmp_path / "syslog").write_bytes(data)
    source = FileMultiLineSource(separator="<", config={"path": str(tmp_path / "*")})
    p, sink, _ = build(source)
    run(p)
    assert sink.Events == [
        b"<133>1 2018-03-24T02:37:01+00:00 machine program 22068 - Start\n"
        b"\t2nd line of the event\n\t3rd line of the event",
        b"<133>1 2018-03-24T02:37:01+00:00 machine program 22068 - New event",
    ]
    assert [c["offset"] for c in sink.Contexts] == [data.index(b"<133>", 1), len(data)]


@pytest.mark.timeout(30)
def test_multi_line_separator_from_config_in_text_mode(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"first\n# one\n  more\n# two\n")
    config = {"path": str(tmp_path / "*"), "separator": "#", "mode": "r"}
    p, sink, _ = build(FileMultiLineSource(config=config))
    run(p)
    assert sink.Events == ["first", "# one\n  more", "# two"]


@pytest.mark.timeout(30)
def test_csv_rows_with_dialect_options_and_quoted_newlines(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_bytes(
        "name;note\r\nEva;'likes\r\nlong lines'\r\nJiří;plain\r\n".encode()
    )
    config = {"path": str(tmp_path / "*.csv"), "delimiter": ";", "quotechar": "'"}
    p, sink, _ = build(FileCSVSource(config=config))
    run(p)
    assert sink.Events == [
        {"name": "Eva", "note": "likes\r\nlong lines"},
        {"name": "Jiří", "note": "plain"},
    ]
    assert sink.Contexts[0]["filename"] == str(tmp_path / "people.csv")


@pytest.mark.timeout(30)
def test_csv_fieldnames_given_and_tab_dialect(tmp_path: Path) -> None:
    (tmp_path / "a.tsv").write_bytes(b"1\tx\n2\ty\n")
    source = FileCSVSource(
        fieldnames=["id", "value"], config={"path": str(tmp_path / "*"), "dialect": "excel-tab"}
    )
    p, sink, _ = build(source)
    run(p)
    assert sink.Events == [{"id": "1", "value": "x"}, {"id": "2", "value": "y"}]
    from_config = FileCSVSource(config={"path": "x", "fieldnames": "id, value"})
    assert from_config.FieldNames == ["id", "value"]


@pytest.mark.timeout(30)
def test_csv_strict_mode_fails_malformed_files(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_bytes(b'a,b\n"unclosed,1\n')
    config = {"path": str(tmp_path / "*"), "strict": "yes"}
    p, _, failures = build(FileCSVSource(config=config))
    report = run(p)
    assert names(tmp_path) == ["bad.csv-failed"]
    assert report.statistics["Files"].source_error == 1
    assert "Error" in repr(failures[0].exception.__cause__)


@pytest.mark.timeout(30)
def test_json_files_are_one_event_each_and_invalid_json_fails_the_file(tmp_path: Path) -> None:
    (tmp_path / "1.json").write_text(json.dumps({"a": [1, 2]}))
    (tmp_path / "2.json").write_text("{not json")
    (tmp_path / "3.json.gz").write_bytes(gzip.compress(b'["z"]'))
    p, sink, _ = build(FileJSONSource(config={"path": str(tmp_path / "*")}))
    report = run(p)
    assert sink.Events == [{"a": [1, 2]}, ["z"]]
    assert report.statistics["Files"].source_error == 1
    assert names(tmp_path) == ["1.json-processed", "2.json-failed", "3.json.gz-processed"]


@pytest.mark.timeout(30)
def test_block_source_emits_whole_files(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"\x00\x01\n\x02")
    (tmp_path / "b.txt").write_bytes("žluťoučký\n".encode())
    p, sink, _ = build(FileBlockSource(config={"path": str(tmp_path / "*.bin")}))
    run(p)
    text = FileBlockSource(config={"path": str(tmp_path / "*.txt"), "mode": "r"})
    q, text_sink, _ = build(text)
    run(q)
    assert sink.Events == [b"\x00\x01\n\x02"]
    assert text_sink.Events == ["žluťoučký\n"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"post": "archive"}, "'post' must be one of move, delete, noop"),
        ({"mode": "w"}, "'mode' must be 'r' or 'rb'"),
        ({"encoding": "utf-16"}, "does not write a newline as the byte 0x0A"),
        ({"encoding": "klingon"}, "unknown encoding 'klingon'"),
        ({"pathh": "/tmp"}, "unknown config key 'pathh'"),
    ],
)
def test_configuration_mistakes_are_refused_when_built(
    config: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        FileLineSource(config={"path": "/tmp/*", **config})


def test_a_missing_path_or_separator_is_refused_when_joining_a_pipeline() -> None:
    source = FileLineSource()  # may still get its path from a config file section
    with pytest.raises(ConfigError, match="'path' is empty"):
        Pipeline("P").build(source.on(RunOnceTrigger()), ListSink())
    multi = FileMultiLineSource(config={"path": "/tmp/*"})
    with pytest.raises(ConfigError, match="no separator"):
        Pipeline("Q").build(multi.on(RunOnceTrigger()), ListSink())
    with pytest.raises(ConfigError, match="'mode' must be 'r'"):
        FileCSVSource(config={"path": "x", "mode": "rb"})
    with pytest.raises(ConfigError, match="unknown csv dialect"):
        FileCSVSource(config={"path": "x", "dialect": "nope"})
