"""Durable file sinks under SIGKILL: a real pump (a file source, the sink) in a subprocess, killed
at random moments and restarted each time, loses no acknowledged record and leaves no torn or
merged one; a full disk (a small tmpfs) fails the flush, acknowledges nothing, and after space
is freed a restart completes cleanly."""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import io
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from pumpcore.testing import conformance

pytestmark = pytest.mark.timeout(120)

KILLS = 20
RECORDS = 90_000
# The source saves its acknowledged offset on every acknowledgement, so that the duplicates
# measured are the sinks' (flush and commit cadence), not the source's save interval (1 s).
OFFSET_COMMIT_INTERVAL = 0
# What a run may write beyond what was acknowledged durably when it is killed: a commit flushed
# but not yet acknowledged, and what was written since (each at most commit_every positions and
# a batch more).
MAX_DUPLICATES_PER_KILL = 2 * (1000 + 256)

PUMP = textwrap.dedent(
    """
    import sys, time
    import pumpcore_executors
    from pumpcore import Pipeline
    from pumpcore_files import FileBlockSink, FileCSVSink, FileJSONLinesSink, FileLineSource

    inbox, out, kind, interval, executor = sys.argv[1:6]
    count = [0]

    def throttle(context, line):  # spreads a run over seconds, so that kills land mid-stream
        count[0] += 1
        if count[0] % 50 == 0:
            time.sleep(0.001)
        return line

    def record(context, line):
        n, payload = line.split(" ", 1)
        return {"n": int(n), "payload": payload.replace("\\\\n", "\\n")}

    steps = {
        "jsonl": [record, FileJSONLinesSink(config={"path": out})],
        "csv": [record, FileCSVSink(config={"path": out, "lineterminator": "\\n"})],
        "blocks": [FileBlockSink(config={"path": out, "mode": "ab", "terminator": "\\n"})],
    }[kind]
    p = Pipeline("Kill")
    p.build(
        FileLineSource(
            config={
                "path": inbox + "/*.log",
                "mode": "r",
                "watch": False,
                "offset_commit_interval": float(interval),
            }
        ),
        throttle,
        *steps,
    )
    report = pumpcore_executors.run(p, executor=executor, handle_signals=False)
    sys.exit(1 if report.errors else 0)
    """
)


def payload(n: int) -> str:
    """Record ``n``'s text: some with quotes, a comma and an escaped newline (a real newline in
    the JSON and CSV output), some of 40 KB (written past Python's buffer, torn more often)."""
    text = f"p{n}"
    if n % 7 == 0:
        text += ' "q",c\\n;'
    if n % 97 == 0:
        text += "x" * 40_000
    return text


def write_inbox(inbox: Path, count: int) -> list[int]:
    """One input file of ``count`` lines; returns the byte offset each line ends at."""
    inbox.mkdir()
    lines = [f"{n} {payload(n)}\n".encode() for n in range(count)]
    (inbox / "in.log").write_bytes(b"".join(lines))
    ends, offset = [], 0
    for line in lines:
        offset += len(line)
        ends.append(offset)
    return ends


def acknowledged(inbox: Path, ends: list[int]) -> int:
    """How many records the source acknowledged durably: a restart resumes after them."""
    if (inbox / "in.log-processed").exists():
        return len(ends)
    state = inbox / ".in.log.pumpcore-offset"
    if not state.exists():
        return 0
    offset = json.loads(state.read_text())["offset"]
    return sum(1 for end in ends if end <= offset)


def complete_records(out: Path, kind: str) -> tuple[list[int], bool]:
    """The record numbers of the output's complete records, in order, checking each against its
    input (so a torn or merged record fails), and whether the output ends in a torn one."""
    if not out.exists():
        return [], False
    data = out.read_bytes()
    if kind == "csv":
        rows: list[list[str]] = []
        try:
            rows.extend(csv.reader(io.StringIO(data.decode(), newline=""), strict=True))
        except csv.Error:
            torn = True  # ended inside a quoted field: that row raised instead of coming
        else:
            torn = bool(data) and not data.endswith(b"\n")
            if torn:
                rows.pop()  # ended outside quotes but amid a row
        if not rows:
            return [], torn
        assert rows[0] == ["n", "payload"], rows[0]
        numbers = []
        for row in rows[1:]:
            assert len(row) == 2, row
            assert row[1] == payload(int(row[0])).replace("\\n", "\n"), row
            numbers.append(int(row[0]))
        return numbers, torn
    complete, torn = data[: data.rfind(b"\n") + 1], not data.endswith(b"\n") and bool(data)
    numbers = []
    for line in complete.decode().splitlines():
        if kind == "jsonl":
            event = json.loads(line)
            assert event["payload"] == payload(event["n"]).replace("\\n", "\n"), line[:80]
            numbers.append(event["n"])
        else:
            n, text = line.split(" ", 1)
            assert text == payload(int(n)), line[:80]
            numbers.append(int(n))
    return numbers, torn


@contextlib.contextmanager
def pump(inbox: Path, out: Path, kind: str, executor: str) -> Iterator[subprocess.Popen[bytes]]:
    interval = str(OFFSET_COMMIT_INTERVAL)
    process = subprocess.Popen(
        [sys.executable, "-c", PUMP, str(inbox), str(out), kind, interval, executor],
        stderr=subprocess.PIPE,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=20)


def torn_tail(kind: str, n: int) -> bytes:
    """The first bytes of record ``n``, as a kill in the middle of writing it leaves them."""
    if kind == "jsonl":
        return b'{"n":%d,"payload":"p' % n
    if kind == "csv":
        return b'%d,"p%d ""q"",c\n' % (n, n)  # a newline inside an open quoted field
    return b"%d p" % n


def kill_and_restart(
    tmp_path: Path, kind: str, executor: str, kills_wanted: int
) -> tuple[int, int, int, list[int]]:
    """Kill a pump into ``kind``'s sink ``kills_wanted`` times, restarting it each time, checking
    after each kill that what was acknowledged is written; run it to the end; check every
    record came.

    Returns: the kills, the torn tails they left, the torn tails added, duplicates per kill.
    """
    inbox, out = tmp_path / kind / "inbox", tmp_path / kind / "out"
    inbox.parent.mkdir()
    ends = write_inbox(inbox, RECORDS)
    rng = random.Random(f"kill-{kind}")
    acked_before, written_before, kills, torn_tails, added = 0, 0, 0, 0, 0
    duplicates: list[int] = []
    while kills < kills_wanted:
        size = out.stat().st_size if out.exists() else -1
        with pump(inbox, out, kind, executor) as process:
            deadline = time.monotonic() + 10
            # Wait until this run writes (or cuts a torn tail), then kill it at a random moment.
            while process.poll() is None and time.monotonic() < deadline:
                if (out.stat().st_size if out.exists() else -1) != size:
                    break
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.25))
            if process.poll() is not None:
                break  # it finished first: the rest of the work is done
            os.kill(process.pid, signal.SIGKILL)
            assert process.wait(timeout=10) == -signal.SIGKILL
        kills += 1
        numbers, torn = complete_records(out, kind)
        torn_tails += torn
        acked = acknowledged(inbox, ends)
        # This run resumed at record acked_before and wrote its records in order.
        run = numbers[written_before:]
        assert run == list(range(acked_before, acked_before + len(run))), f"{kind} kill {kills}"
        # Every acknowledged record is in the output (durable, complete, parsed) ...
        assert acked <= acked_before + len(run), f"{kind} kill {kills}: acknowledged, not written"
        # ... and what this run wrote beyond them is replayed by the next one: duplicates.
        duplicates.append(acked_before + len(run) - acked)
        acked_before, written_before = acked, len(numbers)
        if not torn and kills % 2:
            # Kills rarely land inside a write (the pump mostly waits), so every other one
            # leaves a torn record as such a kill would: the restart must cut it.
            with out.open("ab") as f:
                f.write(torn_tail(kind, acked_before + len(run)))
            added += 1

    with pump(inbox, out, kind, executor) as process:  # the last run, to the end
        assert process.wait(timeout=30) == 0, kind
    numbers, torn = complete_records(out, kind)
    assert not torn, kind
    seen = Counter(numbers)
    assert set(seen) == set(range(RECORDS)), kind  # every input record at least once
    assert numbers[written_before:] == list(range(acked_before, RECORDS)), kind
    assert sum(seen.values()) - RECORDS == sum(duplicates), kind
    assert (inbox / "in.log-processed").exists(), kind
    assert kills >= kills_wanted // 2, f"{kind}: most runs must be killed mid-stream"
    return kills, torn_tails, added, duplicates


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
@pytest.mark.parametrize("executor", conformance.executor_params())
def test_sigkill_at_random_moments_loses_no_acknowledged_record(
    tmp_path: Path, executor: str
) -> None:
    # Every sink under the sync executor; under the others, whose in-flight windows differ,
    # the JSON lines sink with fewer kills (a few seconds each).
    kinds, kills = (["jsonl", "csv", "blocks"], KILLS) if executor == "sync" else (["jsonl"], 10)
    # The pumps mostly wait for their kills: run side by side, to keep the test short.
    with concurrent.futures.ThreadPoolExecutor(len(kinds)) as pool:
        futures = {
            kind: pool.submit(kill_and_restart, tmp_path, kind, executor, kills) for kind in kinds
        }
        results = {kind: future.result() for kind, future in futures.items()}
    for kind, (kills, torn_tails, added, duplicates) in results.items():
        print(
            f"{executor} {kind}: {kills} kills, torn tails cut on restart: {torn_tails} left "
            f"by a kill, "
            f"{added} added; duplicates per kill: max {max(duplicates)}, "
            f"total {sum(duplicates)}"
        )
        assert max(duplicates) <= MAX_DUPLICATES_PER_KILL, kind


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where``: a disk that really fills up."""
    where.mkdir()
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root on Linux (the ENOSPC unit tests remain)")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_a_full_disk_fails_the_flush_acknowledges_nothing_and_a_restart_completes(
    tmp_path: Path,
) -> None:
    import pumpcore_executors
    from pumpcore_files import FileJSONLinesSink, FileLineSource

    from pumpcore import Pipeline

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    count = 900  # about 45 KB of JSON lines
    (inbox / "in.log").write_text("".join(f"{n} p{n}{'x' * 24}\n" for n in range(count)))
    with small_tmpfs(tmp_path / "disk", "64k") as disk:
        filler = disk / "filler"
        filler.write_bytes(b"\0" * 32 * 1024)  # leaves room for about half of the output
        out = disk / "out.jsonl"

        def run() -> pumpcore_executors.RunReport:
            p = Pipeline("Full")  # the hard policy: the failure stops the pipeline
            p.build(
                FileLineSource(config={"path": str(inbox / "*.log"), "mode": "r", "watch": False}),
                lambda context, line: {"n": int(line.split(" ")[0]), "line": line},
                FileJSONLinesSink(config={"path": str(out)}),
            )
            return pumpcore_executors.run(p, handle_signals=False)

        first = run()
        assert "No space left on device" in str(first.errors), first.errors
        assert "FileJSONLinesSink" in str(first.errors)
        assert str(out) in str(first.errors)
        # Nothing acknowledged: the input stays locked at offset 0, for the next run to read.
        assert (inbox / "in.log-locked").exists()
        assert json.loads((inbox / ".in.log.pumpcore-offset").read_text())["offset"] == 0
        data = out.read_bytes()
        assert data == data[: data.rfind(b"\n") + 1], "a torn line was left"
        written = [json.loads(line)["n"] for line in data.splitlines()]
        assert written == list(range(len(written)))

        filler.unlink()  # space freed
        second = run()
        assert second.errors == {}
        lines = out.read_bytes().splitlines()
        numbers = [json.loads(line)["n"] for line in lines]  # every line parses
        assert set(numbers) == set(range(count))
        assert numbers[len(written) :] == list(range(count))  # the whole input replayed
        assert (inbox / "in.log-processed").exists()
