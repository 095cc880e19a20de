"""FTPSource against a real FTP server (pyftpdlib) serving a temporary folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName
from pumpcore_ftp import FTPSource, FTPSourceError

from pumpcore import BlockingSink, ConfigError, Failure, Pipeline, Received
from pumpcore.common import ListSink
from pumpcore.testing import VirtualClock, conformance

from .conftest import FTPd


def build(
    source: FTPSource, *steps: Any, policy: Any = "soft", sink: Any = None
) -> tuple[Pipeline, ListSink, list[Failure]]:
    sink = sink if sink is not None else ListSink(keep_contexts=True)
    p = Pipeline("Ftp", error_policy=policy)
    p.build(source, *steps, sink)
    failures: list[Failure] = []
    p.add_failure_listener(failures.append)
    return p, sink, failures


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def events(received: Sequence[Received] | None) -> list[Any]:
    assert received is not None
    return [r.event for r in received]


def run(p: Pipeline, stop_after: float | None = None) -> pumpcore_executors.RunReport:
    return pumpcore_executors.run(p, clock=VirtualClock(), stop_after=stop_after)


@pytest.mark.timeout(30)
def test_matching_files_are_emitted_as_lines_once_across_periodic_polls(ftpd: FTPd) -> None:
    outbox = ftpd.root / "outbox"
    outbox.mkdir()
    (outbox / "b.txt").write_bytes(b"b1\r\nb2")
    (outbox / "a.txt").write_bytes(b"a1\na2\n")
    (outbox / "skip.csv").write_bytes(b"not matched\n")
    (outbox / "folder.txt").mkdir()  # a directory is never downloaded
    source = FTPSource(config=ftpd.config(path="/outbox", glob="*.txt", poll_interval=10))
    p, sink, failures = build(source)
    report = run(p, stop_after=25)  # three polls
    assert sink.Events == [b"a1", b"a2", b"b1", b"b2"]
    assert [c["filename"] for c in sink.Contexts] == ["a.txt", "a.txt", "b.txt", "b.txt"]
    assert sink.Contexts[0]["remote_path"] == "/outbox/a.txt"
    assert [c["offset"] for c in sink.Contexts] == [3, 6, 4, 6]
    assert failures == []
    assert report.statistics["Ftp"].event_out == 4
    assert source.statistics().files_emitted == 2
    assert sorted(p.name for p in outbox.iterdir()) == ["a.txt", "b.txt", "folder.txt", "skip.csv"]


@pytest.mark.timeout(30)
def test_new_and_changed_files_are_picked_up_by_later_polls(ftpd: FTPd) -> None:
    (ftpd.root / "1.log").write_bytes(b"first\n")
    source = FTPSource(config=ftpd.config(watch=False))
    source.open()
    try:
        assert events(source.read(100)) == [b"first"]
        (ftpd.root / "2.log").write_bytes(b"second\n")
        (ftpd.root / "1.log").write_bytes(b"first\nappended\n")  # its size changes
        assert events(source.read(100)) == [b"first", b"appended", b"second"]
        assert source.read(100) is None  # nothing new: a finite source ends
    finally:
        source.close()


@pytest.mark.timeout(30)
def test_blocks_mode_splits_files_into_fixed_size_blocks(ftpd: FTPd) -> None:
    (ftpd.root / "data.bin").write_bytes(b"0123456789")
    (ftpd.root / "empty.bin").write_bytes(b"")
    source = FTPSource(config=ftpd.config(mode="blocks", block_size=4, watch=False))
    p, sink, _ = build(source)
    run(p)
    assert sink.Events == [b"0123", b"4567", b"89"]
    assert [c["offset"] for c in sink.Contexts] == [4, 8, 10]
    assert source.statistics().files_emitted == 2


@pytest.mark.timeout(30)
def test_a_large_file_is_streamed_line_by_line(ftpd: FTPd) -> None:
    lines = [f"line {i} {'x' * (i % 50)}".encode() for i in range(20000)]
    (ftpd.root / "big.log").write_bytes(b"\n".join(lines))
    p, sink, _ = build(FTPSource(config=ftpd.config(watch=False)))
    run(p)
    assert sink.Events == lines
    assert sink.Contexts[-1]["offset"] == (ftpd.root / "big.log").stat().st_size


@pytest.mark.timeout(30)
def test_undecodable_file_is_reported_once_and_the_others_go_on(ftpd: FTPd) -> None:
    (ftpd.root / "1.txt").write_bytes("žluťoučký\n".encode())
    (ftpd.root / "2.txt").write_bytes(b"ok\n\xff\xfe broken\nnever\n")
    (ftpd.root / "3.txt").write_bytes(b"three\n")
    source = FTPSource(config=ftpd.config(encoding="utf-8", poll_interval=5))
    p, sink, failures = build(source)
    report = run(p, stop_after=10)  # two polls: the bad file is not reported again
    assert sink.Events == ["žluťoučký", "ok", "three"]
    assert report.statistics["Ftp"].source_error == 1
    error = failures[0].exception
    assert isinstance(error, FTPSourceError)
    assert error.remote_path == "/2.txt"
    assert isinstance(error.__cause__, UnicodeDecodeError)
    assert source.statistics().files_failed == 1


@pytest.mark.timeout(30)
def test_delete_after_and_rename_suffix(ftpd: FTPd) -> None:
    (ftpd.root / "a.txt").write_bytes(b"a\n")
    deleting = FTPSource(config=ftpd.config(delete_after=True, watch=False))
    p, sink, _ = build(deleting)
    run(p)
    assert sink.Events == [b"a"]
    assert list(ftpd.root.iterdir()) == []

    (ftpd.root / "b.txt").write_bytes(b"b\n")
    renaming = FTPSource(config=ftpd.config(rename_suffix=".done", poll_interval=5))
    q, sink, _ = build(renaming)
    run(q, stop_after=10)
    assert sink.Events == [b"b"]  # "b.txt.done" is not taken on the second poll
    assert [p.name for p in ftpd.root.iterdir()] == ["b.txt.done"]


@pytest.mark.timeout(30)
def test_a_server_without_mlsd_is_listed_with_nlst(tmp_path: Path) -> None:
    root = tmp_path / "old-server"
    root.mkdir()
    (root / "a.txt").write_bytes(b"from nlst\n")
    (root / "sub").mkdir()
    server = FTPd(root, without=frozenset({"MLSD"}))
    try:
        source = FTPSource(config=server.config(poll_interval=5))
        p, sink, failures = build(source)
        run(p, stop_after=10)
    finally:
        server.close()
    assert sink.Events == [b"from nlst"]
    assert failures == []


@pytest.mark.timeout(30)
def test_a_file_is_deleted_only_once_its_last_record_is_acknowledged(ftpd: FTPd) -> None:
    (ftpd.root / "a.txt").write_bytes(b"1\n2\n3\n")
    (ftpd.root / "b.txt").write_bytes(b"4\n")
    source = FTPSource(config=ftpd.config(delete_after=True, watch=False))
    source.open()
    try:
        received = source.read(100)
        assert received is not None
        assert [r.position for r in received] == [
            ("/a.txt", 2),
            ("/a.txt", 4),
            ("/a.txt", 6),
            ("/b.txt", 2),
        ]
        assert names(ftpd.root) == ["a.txt", "b.txt"]  # read, not committed: both still there
        source.acknowledge([r.position for r in received[:2]])
        assert names(ftpd.root) == ["a.txt", "b.txt"]  # a.txt's last line is not committed
        source.acknowledge([received[2].position])
        assert names(ftpd.root) == ["b.txt"]
        source.acknowledge([received[3].position])
        assert names(ftpd.root) == []
        assert source.statistics().files_finished == 2
    finally:
        source.close()


class FailingFlushSink(BlockingSink):
    """Takes events and fails to make them durable: nothing may be acknowledged."""

    def process(self, context: dict[str, Any], event: Any) -> None:
        pass

    def flush(self) -> None:
        raise OSError("the disk is full")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("config", [{"delete_after": True}, {"rename_suffix": ".done"}])
def test_files_whose_records_were_not_written_stay_on_the_server_for_the_next_run(
    ftpd: FTPd, config: dict[str, Any]
) -> None:
    (ftpd.root / "a.txt").write_bytes(b"1\n2\n")
    source = FTPSource(config=ftpd.config(watch=False, **config))
    p, _, _ = build(source, sink=FailingFlushSink())
    report = run(p)
    assert report.statistics["Ftp"].event_in == 2
    assert names(ftpd.root) == ["a.txt"]  # the sink never committed: not deleted nor renamed
    assert source.statistics().files_finished == 0

    again = FTPSource(config=ftpd.config(watch=False, **config))
    q, sink, _ = build(again)
    run(q)
    assert sink.Events == [b"1", b"2"]  # at least once
    assert names(ftpd.root) == ([] if "delete_after" in config else ["a.txt.done"])


@pytest.mark.timeout(30)
def test_a_hard_failure_mid_file_leaves_it_on_the_server(ftpd: FTPd) -> None:
    (ftpd.root / "a.txt").write_bytes(b"1\n2\n3\n")

    def fail_on_two(context: dict[str, Any], event: bytes) -> bytes:
        if event == b"2":
            raise ValueError("two")
        return event

    source = FTPSource(config=ftpd.config(delete_after=True, watch=False))
    p, sink, _ = build(source, fail_on_two, policy="hard")
    report = run(p)
    assert "ValueError" in report.errors["Ftp"]
    assert sink.Events == [b"1"]
    assert names(ftpd.root) == ["a.txt"]


@pytest.mark.timeout(30)
def test_a_refused_login_fails_the_read(ftpd: FTPd) -> None:
    source = FTPSource(config=ftpd.config(password="wrong"))
    p, _, failures = build(source)
    report = run(p, stop_after=0.5)  # one attempt: the next is after retry_delay (1 s)
    assert report.statistics["Ftp"].source_error == 1
    assert isinstance(failures[0].exception, FTPSourceError)
    assert "530" in str(failures[0].exception)


@pytest.mark.timeout(30)
def test_an_unreachable_server_fails_the_read_under_the_hard_policy() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = FTPSource(config={"host": "127.0.0.1", "port": port, "timeout": 2.0})
    p, _, _ = build(source, policy="hard")
    report = run(p, stop_after=30)
    assert report.statistics["Ftp"].source_error == 1
    assert "FTPSourceError" in report.errors["Ftp"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"mode": "records"}, "'mode' must be one of 'lines', 'blocks', got 'records'"),
        ({"block_size": 0}, "'block_size' must be a number from 1 to 1073741824, got 0"),
        ({"encoding": "klingon"}, "'encoding' must be '' or a text encoding .*, got 'klingon'"),
        ({"timeout": 0}, "'timeout' must be a finite number > 0, got 0.0"),
    ],
)
def test_configuration_mistakes_are_refused_when_built(
    config: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        FTPSource(config={"host": "127.0.0.1", **config})


def test_a_missing_host_is_refused_when_joining_a_pipeline() -> None:
    with pytest.raises(ConfigError, match="'host' is empty"):
        Pipeline("P").build(FTPSource(), ListSink())


@pytest.mark.timeout(30)
@pytest.mark.parametrize("executor", conformance.executor_params())
def test_the_ftp_source_runs_under_every_executor(ftpd: FTPd, executor: ExecutorName) -> None:
    outbox = ftpd.root / "outbox"
    outbox.mkdir()
    (outbox / "a.txt").write_bytes(b"a1\na2\n")
    (outbox / "b.txt").write_bytes(b"b1\n")
    source = FTPSource(config=ftpd.config(path="/outbox", glob="*.txt", poll_interval=10))
    p, sink, failures = build(source)
    report = pumpcore_executors.run(
        p, executor=executor, clock=VirtualClock(), stop_after=25, handle_signals=False
    )
    assert sink.Events == [b"a1", b"a2", b"b1"]
    assert failures == []
    assert report.statistics["Ftp"].event_out == 3
