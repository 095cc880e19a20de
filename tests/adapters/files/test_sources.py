"""File sources: BSPump's lock / read / finalize protocol, formats, compression, bad input, and
at-least-once delivery through saved offsets (a restarted pump resumes a half-read file)."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName
from pumpcore_files import (
    FileABCSource,
    FileBlockSource,
    FileCSVSource,
    FileJSONLinesSink,
    FileJSONSource,
    FileLineSource,
    FileMultiLineSource,
    FileReadError,
)

from pumpcore import ConfigError, Context, Failure, Pipeline, Received, Sink, Source
from pumpcore.common import ListSink
from pumpcore.testing import VirtualClock, conformance

from ._proc import linux_proc, open_paths

pytestmark = pytest.mark.timeout(30)

every_executor = pytest.mark.parametrize("executor", conformance.executor_params())


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def finite(path: Path | str, **config: Any) -> dict[str, Any]:
    """Config for a source that reads what is there and ends (a finite run)."""
    return {"path": str(path), "watch": False, **config}


def build(
    source: Source, *steps: Any, policy: Any = "soft"
) -> tuple[Pipeline, ListSink, list[Failure]]:
    sink = ListSink(keep_contexts=True)
    p = Pipeline("Files", error_policy=policy)
    p.build(source, *steps, sink)
    failures: list[Failure] = []
    p.add_failure_listener(failures.append)
    return p, sink, failures


def run(p: Pipeline, executor: ExecutorName = "sync", **kwargs: Any) -> Any:
    if executor in ("asyncio", "trio"):
        kwargs.setdefault("blocking_threshold", 0.5)  # the loop is never blocked by file I/O
    return pumpcore_executors.run(p, executor=executor, handle_signals=False, **kwargs)


@every_executor
def test_lines_of_every_file_in_order_then_files_are_marked_processed(
    tmp_path: Path, executor: ExecutorName
) -> None:
    (tmp_path / "b.log").write_bytes(b"b1\nb2\n")
    (tmp_path / "a.log").write_bytes(b"a1\na2\n")
    (tmp_path / "notes.txt").write_bytes(b"not matched\n")
    source = FileLineSource(config=finite(tmp_path / "*.log"))
    p, sink, _ = build(source)
    report = run(p, executor)
    assert sink.Events == [b"a1", b"a2", b"b1", b"b2"]
    assert [c["filename"] for c in sink.Contexts] == [str(tmp_path / "a.log")] * 2 + [
        str(tmp_path / "b.log")
    ] * 2
    assert names(tmp_path) == ["a.log-processed", "b.log-processed", "notes.txt"]  # no state
    assert report.statistics["Files"].event_out == 4
    assert source.statistics().files_processed == 2


def test_offsets_say_where_reading_resumes_after_each_line(tmp_path: Path) -> None:
    data = "first\r\n\nthird ü\nlast without newline".encode()
    (tmp_path / "x.log").write_bytes(data)
    source = FileLineSource(config=finite(tmp_path / "x.log", mode="r"))
    p, sink, _ = build(source)
    run(p)
    assert sink.Events == ["first", "", "third ü", "last without newline"]
    offsets = [c["offset"] for c in sink.Contexts]
    assert offsets == [7, 8, 17, len(data)]  # "ü" is two bytes
    for line, offset in zip(sink.Events[1:], offsets, strict=False):
        assert data[offset:].decode().startswith(line)


def test_positions_are_acknowledged_before_a_file_is_finished(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(b"1\n22\n333\n")
    # Saved on every acknowledgement, so that the state file shows each one.
    source = FileLineSource(config=finite(tmp_path / "*", read_size=2, offset_commit_interval=0))
    source.open()
    first = read(source, 2)
    assert first is not None
    assert [r.context for r in first] == [
        {"filename": str(tmp_path / "a.log"), "offset": 2},
        {"filename": str(tmp_path / "a.log"), "offset": 5},
    ]
    # Positions are opaque ints, one per record, rising in read order.
    positions = [r.position for r in first]
    assert all(type(p) is int for p in positions)
    assert positions == sorted(set(positions))
    source.acknowledge([first[0].position])
    rest = read(source, 2)
    assert rest is not None
    assert [r.event for r in rest] == [b"333"]
    assert names(tmp_path) == [".a.log.pumpcore-offset", "a.log-locked"]  # read, not all acked
    saved = json.loads((tmp_path / ".a.log.pumpcore-offset").read_text())
    assert saved["offset"] == 2
    source.acknowledge([first[1].position, rest[0].position])
    assert names(tmp_path) == ["a.log-processed"]
    assert read(source, 2) is None
    source.close()


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [(".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)],
)
def test_compressed_files_are_read_transparently(
    tmp_path: Path, suffix: str, compress: Any
) -> None:
    lines = [f"line {i}".encode() for i in range(500)]
    (tmp_path / f"big.log{suffix}").write_bytes(compress(b"\n".join(lines) + b"\n"))
    source = FileLineSource(config=finite(tmp_path / "*"))
    p, sink, _ = build(source)
    run(p)
    assert sink.Events == lines
    assert sink.Contexts[-1]["offset"] == sum(len(line) + 1 for line in lines)
    assert names(tmp_path) == [f"big.log{suffix}-processed"]


def test_post_delete_removes_files(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(b"x\n")
    p, sink, _ = build(FileLineSource(config=finite(tmp_path / "*", post="delete")))
    run(p)
    assert sink.Events == [b"x"]
    assert names(tmp_path) == []


def test_post_move_to_a_destination_folder(tmp_path: Path) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    inbox.mkdir()
    (inbox / "a.log").write_bytes(b"x\n")
    p, sink, _ = build(FileLineSource(config=finite(inbox / "*", move_destination=str(done))))
    run(p)
    assert sink.Events == [b"x"]
    assert names(inbox) == []
    assert names(done) == ["a.log-processed"]


def test_an_empty_file_is_finished_without_events(tmp_path: Path) -> None:
    (tmp_path / "empty.log").write_bytes(b"")
    p, sink, _ = build(FileLineSource(config=finite(tmp_path / "*")))
    run(p)
    assert sink.Events == []
    assert names(tmp_path) == ["empty.log-processed"]


def test_post_noop_leaves_files_and_repeated_scans_do_not_emit_them_twice(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"x\n")
    config = {"path": str(tmp_path / "*"), "post": "noop", "poll_interval": 1.0}
    p, sink, _ = build(FileLineSource(config=config))
    run(p, clock=VirtualClock(), stop_after=5)  # about five scans
    assert sink.Events == [b"x"]
    assert names(tmp_path) == ["a.log"]
    source = FileLineSource(config=config)  # the executor's calls, by hand
    source.open()
    received = read(source, 10)
    assert received is not None
    assert [r.event for r in received] == [b"x"]
    source.acknowledge([r.position for r in received])
    assert read(source, 10) == []  # watching: nothing new
    path.write_bytes(b"x\ny\n")  # changed: read again
    received = read(source, 10)
    assert received is not None
    assert [r.event for r in received] == [b"x", b"y"]
    source.close()


@every_executor
def test_watching_picks_up_files_that_arrive_later(tmp_path: Path, executor: ExecutorName) -> None:
    def drop_another(context: Context, event: bytes) -> bytes:
        if event == b"first":  # a file arrives while the pump runs
            (tmp_path / "z.log").write_bytes(b"second\n")
        return event

    source = FileLineSource(config={"path": str(tmp_path / "*.log"), "poll_interval": 10.0})
    (tmp_path / "a.log").write_bytes(b"first\n")
    p, sink, _ = build(source, drop_another)
    run(p, executor, clock=VirtualClock(), stop_after=25)
    assert sink.Events == [b"first", b"second"]
    assert names(tmp_path) == ["a.log-processed", "z.log-processed"]


def test_locked_failed_and_processed_names_and_filters_are_respected(tmp_path: Path) -> None:
    for name in ("a.log-locked", "b.log-failed", "c.log-processed", "d.log", "skip.log", "e.log"):
        (tmp_path / name).write_bytes(name.encode() + b"\n")
    config = finite(tmp_path / "*", include="*.log", exclude="*skip*")
    p, sink, _ = build(FileLineSource(config=config))
    run(p)
    assert sink.Events == [b"d.log", b"e.log"]
    assert "a.log-locked" in names(tmp_path)  # no saved offset: not ours to resume


def test_a_stale_lock_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "a.log-locked").write_bytes(b"left by a crash\n")
    (tmp_path / "a.log").write_bytes(b"new delivery\n")
    (tmp_path / "b.log").write_bytes(b"b\n")
    p, sink, failures = build(FileLineSource(config=finite(tmp_path / "*")))
    report = run(p)
    assert sink.Events == [b"b"]
    assert names(tmp_path) == ["a.log", "a.log-locked", "b.log-processed"]
    assert (tmp_path / "a.log-locked").read_bytes() == b"left by a crash\n"
    assert report.statistics["Files"].source_error == 1
    assert isinstance(failures[0].exception.__cause__, FileExistsError)


def test_several_globs_joined_by_pathsep(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "one" / "a.log").write_bytes(b"1\n")
    (tmp_path / "two" / "b.log").write_bytes(b"2\n")
    path = os.pathsep.join([str(tmp_path / "two" / "*"), str(tmp_path / "one" / "*")])
    p, sink, _ = build(FileLineSource(config=finite(path)))
    run(p)
    assert sink.Events == [b"2", b"1"]


@every_executor
def test_invalid_utf8_and_truncated_gzip_fail_their_file_and_the_others_go_on(
    tmp_path: Path, executor: ExecutorName
) -> None:
    (tmp_path / "1-good.log").write_bytes(b"good one\n")
    (tmp_path / "2-bad-utf8.log").write_bytes(b"fine\nbad \xff\xfe bytes\nnever\n")
    whole = gzip.compress(b"".join(f"gz {i}\n".encode() for i in range(2000)))
    (tmp_path / "3-truncated.log.gz").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "4-good.log").write_bytes(b"good two\n")
    source = FileLineSource(config=finite(tmp_path / "*", mode="r"))
    p, sink, failures = build(source)
    report = run(p, executor)
    assert names(tmp_path) == [
        "1-good.log-processed",
        "2-bad-utf8.log-failed",
        "3-truncated.log.gz-failed",
        "4-good.log-processed",
    ]  # and no saved offsets left behind
    assert sink.Events[:2] == ["good one", "fine"]  # "fine" came before the bad line
    assert "never" not in sink.Events
    gz = [e for e in sink.Events if e.startswith("gz ")]
    assert gz == [f"gz {i}" for i in range(len(gz))]  # what decompressed before the cut
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


def test_a_read_error_under_the_hard_policy_stops_and_leaves_the_rest(tmp_path: Path) -> None:
    (tmp_path / "1-bad.log").write_bytes(b"\xff\n")
    (tmp_path / "2-good.log").write_bytes(b"good\n")
    p, sink, _ = build(FileLineSource(config=finite(tmp_path / "*", mode="r")), policy="hard")
    report = run(p)
    assert sink.Events == []
    assert names(tmp_path) == ["1-bad.log-failed", "2-good.log"]
    assert "FileReadError" in report.errors["Files"]


# ---------------------------------------------------------------- restart: at least once


class FailingJSONLinesSink(FileJSONLinesSink):
    """Writes like its parent, and fails (a hard error) on the ``fail_at``-th event."""

    def __init__(self, path: Path, fail_at: int | None) -> None:
        super().__init__(config={"path": str(path)})
        self.fail_at = fail_at
        self.seen = 0

    def process(self, context: Context, event: Any) -> None:
        self.seen += 1
        if self.seen == self.fail_at:
            raise RuntimeError(f"the sink fails on purpose at event {self.seen}")
        super().process(context, event)


def write_inbox(inbox: Path, per_file: int) -> dict[str, list[str]]:
    """Three files (one gzipped), each line unique; returns the lines by original file name."""
    inbox.mkdir()
    files: dict[str, list[str]] = {}
    for name in ("a.log", "b.log.gz", "c.log"):
        lines = [f"{name} line {i}" for i in range(per_file)]
        data = "".join(line + "\n" for line in lines).encode()
        (inbox / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        files[name] = lines
    return files


def saved_offset(inbox: Path, name: str) -> int:
    state = json.loads((inbox / f".{name}.pumpcore-offset").read_text())
    offset: int = state["offset"]
    return offset


def line_end_offsets(lines: list[str]) -> dict[str, int]:
    ends, offset = {}, 0
    for line in lines:
        offset += len(line) + 1
        ends[line] = offset
    return ends


@every_executor
def test_a_restarted_pump_resumes_half_read_files_and_loses_nothing(
    tmp_path: Path, executor: ExecutorName
) -> None:
    per_file, fail_at = 1500, 2900  # the failure is in the second file, b.log.gz
    inbox, out = tmp_path / "inbox", tmp_path / "out.jsonl"
    files = write_inbox(inbox, per_file)
    everything = [line for lines in files.values() for line in lines]

    def pump(fail: int | None) -> Any:
        source = FileLineSource(config=finite(inbox / "*", mode="r"))
        p = Pipeline("Files")  # the hard policy: a failure stops the pipeline
        p.build(source, FailingJSONLinesSink(out, fail))
        return run(p, executor), source

    first, _ = pump(fail_at)
    assert "RuntimeError" in first.errors["Files"]
    written_first = [json.loads(line) for line in out.read_text().splitlines()]
    assert written_first == everything[: fail_at - 1]  # everything before the failure
    # The first file was acknowledged to its end and finished; the second was acknowledged
    # part-way (commits come at least every ~1000 events) and is left locked with its offset;
    # the third was not reached, or only read ahead (locked, nothing acknowledged).
    left = set(names(inbox))
    expected = {".b.log.gz.pumpcore-offset", "a.log-processed", "b.log.gz-locked", "c.log"}
    c_read_ahead = "c.log-locked" in left
    if c_read_ahead:
        assert saved_offset(inbox, "c.log") == 0
        expected ^= {"c.log", "c.log-locked", ".c.log.pumpcore-offset"}
    assert left == expected
    acked = saved_offset(inbox, "b.log.gz")
    b_ends = line_end_offsets(files["b.log.gz"])
    assert 0 < acked < b_ends[everything[fail_at - 1]]

    second, source = pump(None)
    assert second.errors == {}
    assert source.statistics().files_resumed == 1 + c_read_ahead
    assert names(inbox) == ["a.log-processed", "b.log.gz-processed", "c.log-processed"]
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert set(written) == set(everything)  # at least once: nothing lost
    written_second = written[len(written_first) :]
    # Run two starts right after b's acknowledged offset and goes on in order to the end.
    first_b = next(i for i, line in enumerate(files["b.log.gz"]) if b_ends[line] > acked)
    assert written_second == files["b.log.gz"][first_b:] + files["c.log"]
    duplicates = {line for line in written_second if line in set(written_first)}
    # Duplicates come only from the unacknowledged tail of the half-read file.
    assert duplicates == set(files["b.log.gz"][first_b : fail_at - 1 - per_file])
    assert all(b_ends[line] > acked for line in duplicates)


CRASHING_PUMP = textwrap.dedent(
    """
    import json, os, sys
    import pumpcore_executors
    from pumpcore import Pipeline
    from pumpcore_files import FileJSONLinesSink, FileLineSource

    inbox, out, executor, crash_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
    seen = [0]

    def crash(context, event):
        seen[0] += 1
        if seen[0] == crash_at:
            os._exit(3)  # no stop sequence, no final flush, no close: a real crash
        return event

    p = Pipeline("Files")
    p.build(
        FileLineSource(config={"path": inbox + "/*", "mode": "r", "watch": False, **extra}),
        crash,
        FileJSONLinesSink(config={"path": out}),
    )
    pumpcore_executors.run(p, executor=executor, handle_signals=False)
    """
)


def acknowledged(inbox: Path, files: dict[str, list[str]]) -> dict[str, int]:
    """How many lines of each file a stopped pump acknowledged, from what it left in the inbox:
    a finished file all, a locked one those ending at its saved offset, an untouched one none."""
    counts = {}
    for name, lines in files.items():
        if (inbox / f"{name}-processed").exists():
            counts[name] = len(lines)
        elif (inbox / f"{name}-locked").exists():
            offset, ends = saved_offset(inbox, name), line_end_offsets(lines)
            counts[name] = sum(1 for line in lines if ends[line] <= offset)
        else:
            counts[name] = 0
    return counts


@every_executor
def test_a_crashed_pump_is_resumed_by_the_next_one(tmp_path: Path, executor: ExecutorName) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out.jsonl"
    files = write_inbox(inbox, 1500)
    everything = [line for lines in files.values() for line in lines]
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_PUMP, str(inbox), str(out), executor, "2500"],
        capture_output=True,
        text=True,
        timeout=25,
        check=False,
    )
    assert crashed.returncode == 3, crashed.stderr
    written_first = [json.loads(line) for line in out.read_text().splitlines()]
    assert written_first == everything[: len(written_first)]
    assert len(written_first) < 2499  # what was not flushed yet died with the process
    done = acknowledged(inbox, files)
    assert sum(done.values()) > 0  # commits happened before the crash
    acked_lines = [line for name, lines in files.items() for line in lines[: done[name]]]
    assert set(acked_lines) <= set(written_first)  # acknowledged only once durable

    source = FileLineSource(config=finite(inbox / "*", mode="r"))
    p = Pipeline("Files")
    p.build(source, FileJSONLinesSink(config={"path": str(out)}))
    run(p, executor)  # resumes what the dead process held (its flock went with it)
    written = [json.loads(line) for line in out.read_text().splitlines()]
    # Exactly what was not acknowledged is read again, in order: nothing lost, and duplicates
    # only from the unacknowledged tail.
    assert written[len(written_first) :] == [
        line for name, lines in files.items() for line in lines[done[name] :]
    ]
    assert set(written) == set(everything)
    assert names(inbox) == ["a.log-processed", "b.log.gz-processed", "c.log-processed"]


class CountingSink(Sink):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def process(self, context: Context, event: Any) -> None:
        self.count += 1


def test_offsets_are_saved_a_few_times_per_file_not_on_every_commit(tmp_path: Path) -> None:
    n = 300_000
    (tmp_path / "big.log").write_bytes(b"%d\n" * n % tuple(range(n)))
    source = FileLineSource(config=finite(tmp_path / "*"))
    sink = CountingSink()
    p = Pipeline("Files")
    p.build(source, sink)
    started = time.monotonic()
    run(p)
    elapsed = time.monotonic() - started
    assert sink.count == n
    assert names(tmp_path) == ["big.log-processed"]
    # About 300 commits acknowledged positions. Saved: when locked, once per started second,
    # once per 100,000 records, and the final offset before post-processing.
    writes = source.statistics().offset_writes
    assert 2 <= writes <= 2 + n // 100_000 + int(elapsed) + 1


def test_a_crash_replays_at_most_the_records_acknowledged_since_the_last_save(
    tmp_path: Path,
) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out.jsonl"
    inbox.mkdir()
    lines = [f"line {i}" for i in range(5000)]
    (inbox / "a.log").write_text("".join(line + "\n" for line in lines))
    # Saved by count only (the interval is never reached), every 2,500 acknowledged records.
    every = 2500
    config = json.dumps({"offset_commit_interval": 3600, "offset_commit_every": every})
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_PUMP, str(inbox), str(out), "sync", "4500", config],
        capture_output=True,
        text=True,
        timeout=25,
        check=False,
    )
    assert crashed.returncode == 3, crashed.stderr
    written_first = [json.loads(line) for line in out.read_text().splitlines()]
    assert written_first == lines[: len(written_first)]
    ends = line_end_offsets(lines)
    saved = sum(1 for line in lines if ends[line] <= saved_offset(inbox, "a.log"))
    # Commits (about every 1,000 events) acknowledged everything written; the offset was saved
    # only at some of them, so the records acknowledged since are not covered by it.
    assert 0 < saved < len(written_first)
    assert len(written_first) - saved < every

    source = FileLineSource(config=finite(inbox / "*", mode="r"))
    p = Pipeline("Files")
    p.build(source, FileJSONLinesSink(config={"path": str(out)}))
    run(p)
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert written[len(written_first) :] == lines[saved:]  # resumed at the saved offset
    duplicates = len(written) - len(lines)
    assert duplicates == len(written_first) - saved
    assert names(inbox) == ["a.log-processed"]


def test_closing_saves_the_offset_acknowledged_since_the_last_save(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(b"1\n22\n333\n")
    source = FileLineSource(config=finite(tmp_path / "*", offset_commit_interval=3600))
    source.open()
    taken = read(source, 2)
    assert taken is not None
    source.acknowledge([r.position for r in taken])
    assert saved_offset(tmp_path, "a.log") == 0  # saved when locked, not since
    source.close()
    assert saved_offset(tmp_path, "a.log") == 5
    assert source.statistics().offset_writes == 2


def test_a_file_another_live_pump_holds_is_not_resumed(tmp_path: Path) -> None:
    import fcntl

    (tmp_path / "a.log").write_bytes(b"1\n2\n")
    owner = FileLineSource(config=finite(tmp_path / "*"))
    owner.open()
    taken = read(owner, 1)
    assert taken is not None
    owner.acknowledge([taken[0].position])  # saved offset 2; the owner still reads
    other = FileLineSource(config=finite(tmp_path / "*"))
    other.open()
    assert read(other, 10) is None  # a.log-locked is held by a live pump: left alone
    owner.close()  # the owner stops: its flock goes
    with open(tmp_path / "a.log-locked", "rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody holds it now
    resumed = read(other, 10)
    assert resumed is not None
    assert [r.event for r in resumed] == [b"2"]
    other.acknowledge([r.position for r in resumed])
    other.close()
    assert names(tmp_path) == ["a.log-processed"]


def test_a_saved_offset_that_does_not_match_its_file_is_not_trusted(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(b"1\n2\n")
    first = FileLineSource(config=finite(tmp_path / "*"))
    first.open()
    taken = read(first, 1)
    assert taken is not None
    first.acknowledge([taken[0].position])
    first.close()
    (tmp_path / "a.log-locked").write_bytes(b"someone replaced it\n")
    p, sink, _ = build(FileLineSource(config=finite(tmp_path / "*")))
    run(p)
    assert sink.Events == []
    assert "a.log-locked" in names(tmp_path)  # left for a human


@linux_proc
def test_many_files_with_few_held_open(tmp_path: Path) -> None:
    for i in range(20):
        (tmp_path / f"{i:02}.log").write_bytes(f"{i}\n".encode())
    most_open = [0]

    def count_open(context: Context, event: bytes) -> bytes:
        most_open[0] = max(most_open[0], len(open_paths(tmp_path)))
        return event

    source = FileLineSource(config=finite(tmp_path / "*", max_open_files=2, read_size=1000))
    p, sink, _ = build(source, count_open)
    run(p)  # one read takes all 20 files; no commit comes before the end of it
    assert sink.Events == [f"{i}".encode() for i in range(20)]
    assert names(tmp_path) == [f"{i:02}.log-processed" for i in range(20)]
    assert most_open[0] == 2
    assert open_paths(tmp_path) == []


# ---------------------------------------------------------------- other formats


def test_multi_line_records_start_at_the_separator(tmp_path: Path) -> None:
    data = (
        b"<133>1 2018-03-24T02:37:01+00:00 machine program 22068 - Start\n"
        b"\t2nd line of the event\n"
        b"\t3rd line of the event\n"
        b"<133>1 2018-03-24T02:37:01+00:00 machine program 22068 - New event\n"
    )
    (tmp_path / "syslog").write_bytes(data)
    source = FileMultiLineSource(separator="<", config=finite(tmp_path / "*"))
    p, sink, _ = build(source)
    run(p)
    assert sink.Events == [
        b"<133>1 2018-03-24T02:37:01+00:00 machine program 22068 - Start\n"
        b"\t2nd line of the event\n\t3rd line of the event",
        b"<133>1 2018-03-24T02:37:01+00:00 machine program 22068 - New event",
    ]
    assert [c["offset"] for c in sink.Contexts] == [data.index(b"<133>", 1), len(data)]


def test_multi_line_separator_from_config_in_text_mode(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"first\n# one\n  more\n# two\n")
    p, sink, _ = build(FileMultiLineSource(config=finite(tmp_path / "*", separator="#", mode="r")))
    run(p)
    assert sink.Events == ["first", "# one\n  more", "# two"]


def test_csv_rows_with_dialect_options_and_quoted_newlines(tmp_path: Path) -> None:
    data = "name;note\r\nEva;'likes\r\nlong lines'\r\nJiří;plain\r\n".encode()
    (tmp_path / "people.csv").write_bytes(data)
    config = finite(tmp_path / "*.csv", delimiter=";", quotechar="'")
    p, sink, _ = build(FileCSVSource(config=config))
    run(p)
    assert sink.Events == [
        {"name": "Eva", "note": "likes\r\nlong lines"},
        {"name": "Jiří", "note": "plain"},
    ]
    assert sink.Contexts[0]["filename"] == str(tmp_path / "people.csv")
    assert [c["offset"] for c in sink.Contexts] == [data.index(b"Ji"), len(data)]


def test_a_csv_file_resumes_after_its_acknowledged_rows_with_its_header(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(b'id,note\n1,"two\nlines"\n2,x\n3,y\n')
    config = finite(tmp_path / "*.csv")
    first = FileCSVSource(config=config)
    first.open()
    rows = read(first, 2)
    assert rows is not None
    first.acknowledge([rows[0].position])  # row 1 done; row 2 read but not acknowledged
    first.close()
    p, sink, _ = build(FileCSVSource(config=config))
    run(p)
    assert sink.Events == [{"id": "2", "note": "x"}, {"id": "3", "note": "y"}]
    assert names(tmp_path) == ["a.csv-processed"]


def test_csv_fieldnames_given_and_tab_dialect(tmp_path: Path) -> None:
    (tmp_path / "a.tsv").write_bytes(b"1\tx\n2\ty\n")
    source = FileCSVSource(
        fieldnames=["id", "value"], config=finite(tmp_path / "*", dialect="excel-tab")
    )
    p, sink, _ = build(source)
    run(p)
    assert sink.Events == [{"id": "1", "value": "x"}, {"id": "2", "value": "y"}]
    from_config = FileCSVSource(config={"path": "x", "fieldnames": "id, value"})
    assert from_config.FieldNames == ["id", "value"]


def test_csv_strict_mode_fails_malformed_files(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_bytes(b'a,b\n"unclosed,1\n')
    p, _, failures = build(FileCSVSource(config=finite(tmp_path / "*", strict="yes")))
    report = run(p)
    assert names(tmp_path) == ["bad.csv-failed"]
    assert report.statistics["Files"].source_error == 1
    assert "Error" in repr(failures[0].exception.__cause__)


def test_json_files_are_one_event_each_and_invalid_json_fails_the_file(tmp_path: Path) -> None:
    (tmp_path / "1.json").write_text(json.dumps({"a": [1, 2]}))
    (tmp_path / "2.json").write_text("{not json")
    (tmp_path / "3.json.gz").write_bytes(gzip.compress(b'["z"]'))
    p, sink, _ = build(FileJSONSource(config=finite(tmp_path / "*")))
    report = run(p)
    assert sink.Events == [{"a": [1, 2]}, ["z"]]
    assert report.statistics["Files"].source_error == 1
    assert names(tmp_path) == ["1.json-processed", "2.json-failed", "3.json.gz-processed"]


def test_block_source_emits_whole_files(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"\x00\x01\n\x02")
    (tmp_path / "b.txt").write_bytes("žluťoučký\n".encode())
    p, sink, _ = build(FileBlockSource(config=finite(tmp_path / "*.bin")))
    run(p)
    q, text_sink, _ = build(FileBlockSource(config=finite(tmp_path / "*.txt", mode="r")))
    run(q)
    assert sink.Events == [b"\x00\x01\n\x02"]
    assert text_sink.Events == ["žluťoučký\n"]


def test_a_state_dir_keeps_offsets_out_of_the_inbox(tmp_path: Path) -> None:
    inbox, state = tmp_path / "inbox", tmp_path / "state"
    inbox.mkdir()
    (inbox / "a.log").write_bytes(b"1\n2\n")
    source = FileLineSource(config=finite(inbox / "*", state_dir=str(state)))
    source.open()
    taken = read(source, 1)
    assert taken is not None
    source.acknowledge([taken[0].position])
    source.close()
    assert names(inbox) == ["a.log-locked"]
    [state_file] = state.iterdir()
    assert json.loads(state_file.read_text())["offset"] == 2
    p, sink, _ = build(FileLineSource(config=finite(inbox / "*", state_dir=str(state))))
    run(p)
    assert sink.Events == [b"2"]
    assert names(state) == []


def test_an_unknown_key_is_refused_when_built() -> None:
    with pytest.raises(ConfigError, match="unknown config key 'pathh'"):
        FileLineSource(config={"path": "/tmp/*", "pathh": "/tmp"})


def test_a_missing_path_or_separator_is_refused_when_joining_a_pipeline() -> None:
    source = FileLineSource()  # may still get its path from a config file section
    with pytest.raises(ConfigError, match="'path' is empty"):
        Pipeline("P").build(source, ListSink())
    multi = FileMultiLineSource(config={"path": "/tmp/*"})
    with pytest.raises(ConfigError, match="no separator"):
        Pipeline("Q").build(multi, ListSink())
    with pytest.raises(ConfigError, match="invalid csv options"):
        FileCSVSource(config={"path": "x", "quoting": 99})


def read(source: FileABCSource, max_items: int) -> list[Received] | None:
    """One ``read`` of ``source``, its ``Batch`` as records (None when the input ended)."""
    batch = source.read(max_items)
    if batch is None:
        return None
    n = len(batch.events)
    positions = batch.positions if batch.positions is not None else [None] * n
    contexts = batch.contexts if batch.contexts is not None else [None] * n
    return [Received(*record) for record in zip(batch.events, positions, contexts, strict=True)]
