"""SQL sinks under SIGKILL: a real pump (a file source whose acknowledged offset is saved, the
sink) in a subprocess, killed at random moments and restarted each time, loses no acknowledged
record; without a key the rows a killed run committed past its last acknowledgement come
again (counted per kill), with ``upsert_key`` none does."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from ._backends import BACKENDS, Database, database

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

KILLS = 6
RECORDS = 20_000
# A killed run may have committed a commit's rows (commit_every positions) plus a batch whose
# acknowledgement it did not save yet.
MAX_DUPLICATES_PER_KILL = 2 * (1000 + 256)

PUMP = textwrap.dedent(
    """
    import sys, time, json
    import pumpcore_executors
    from pumpcore import Pipeline
    from pumpcore_files import FileLineSource

    inbox, backend, table, upsert = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
    address = json.loads(sys.argv[5])
    if backend == "postgres":
        from pumpcore_postgres import PostgreSQLConnection as Connection, PostgreSQLSink as Sink
        user = "postgres"
    else:
        from pumpcore_mysql import MySQLConnection as Connection, MySQLSink as Sink
        user = "root"
    count = [0]

    def record(context, line):
        count[0] += 1
        if count[0] % 20 == 0:
            time.sleep(0.001)  # spreads a run over seconds, so that kills land mid-stream
        n, payload = line.split(" ", 1)
        return {"n": int(n), "payload": payload}

    connection = Connection(
        config={"host": address[0], "port": address[1], "db": "test", "user": user}
    )
    config = {"table": table, "columns": "n, payload"}
    if upsert:
        config["upsert_key"] = "n"
    p = Pipeline("Kill")
    p.build(
        FileLineSource(config={"path": inbox + "/*.log", "mode": "r", "watch": False,
                               "offset_commit_interval": 0}),
        record,
        Sink(connection=connection, config=config),
    )
    report = pumpcore_executors.run(p, executor="sync", handle_signals=False)
    sys.exit(1 if report.errors else 0)
    """
)


def acknowledged(inbox: Path, ends: list[int]) -> int:
    """How many records the source acknowledged durably: a restart resumes after them."""
    if (inbox / "in.log-processed").exists():
        return len(ends)
    state = inbox / ".in.log.pumpcore-offset"
    if not state.exists():
        return 0
    offset = json.loads(state.read_text())["offset"]
    return sum(1 for end in ends if end <= offset)


def kill_and_restart(db: Database, tmp_path: Path, upsert: bool) -> tuple[list[int], str]:
    """Kill a pump into the sink KILLS times, restarting it each time, checking after each
    kill that what was acknowledged is written; run it to the end; check every record came.

    Returns: per kill, the rows committed past the last acknowledgement (written again by the
    next run: duplicates without a key, rewrites with one), and the table.
    """
    inbox = tmp_path / f"inbox-{upsert}"
    inbox.mkdir(parents=True)
    lines = [f"{n} p{n}\n".encode() for n in range(RECORDS)]
    (inbox / "in.log").write_bytes(b"".join(lines))
    ends, offset = [], 0
    for line in lines:
        offset += len(line)
        ends.append(offset)
    key = " PRIMARY KEY" if upsert else ""
    table = db.table(f"n {db.backend.int_type}{key}, payload {db.backend.text_type}")
    argv = [sys.executable, "-c", PUMP, str(inbox), db.name, table, str(int(upsert))]
    argv.append(json.dumps(db.address))
    rng = random.Random(f"kill-{db.name}-{upsert}")

    def count() -> int:
        return int(db.execute(f"SELECT count(*) FROM {table}")[0][0])

    duplicates: list[int] = []
    for kill in range(KILLS):
        before = count()
        process = subprocess.Popen(argv, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while process.poll() is None and time.monotonic() < deadline and count() == before:
            time.sleep(0.02)  # until this run committed something
        time.sleep(rng.uniform(0, 0.3))
        if process.poll() is not None:
            process.communicate(timeout=20)
            break  # it finished first: the rest of the work is done
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=20)
        rows = Counter(r[0] for r in db.execute(f"SELECT n FROM {table}"))
        acked = acknowledged(inbox, ends)
        assert set(range(acked)) <= set(rows), f"{db.name} kill {kill}: acknowledged, not written"
        # What this run committed past its last acknowledgement: the next run writes it again.
        duplicates.append(sum(1 for n in rows if n >= acked))
    process = subprocess.Popen(argv, stderr=subprocess.PIPE)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()[-2000:]
    rows = Counter(r[0] for r in db.execute(f"SELECT n FROM {table}"))
    assert set(rows) == set(range(RECORDS))
    assert sum(rows.values()) - RECORDS <= sum(duplicates)  # only what a kill left unacknowledged
    payloads = db.execute(f"SELECT n, payload FROM {table}")
    assert all(p == f"p{n}" for n, p in payloads)
    return duplicates, table


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_sigkill_loses_no_acknowledged_row(tmp_path: Path) -> None:
    # The four pumps (each database, a plain table and a keyed one with upserts) mostly wait
    # for their kills: run side by side, to keep the test short.
    runs = [(name, upsert) for name in BACKENDS for upsert in (False, True)]
    with contextlib.ExitStack() as stack:
        dbs = {name: stack.enter_context(database(name)) for name in BACKENDS}
        with concurrent.futures.ThreadPoolExecutor(len(runs)) as pool:
            futures = {
                (name, upsert): pool.submit(kill_and_restart, dbs[name], tmp_path / name, upsert)
                for name, upsert in runs
            }
            results = {run: future.result() for run, future in futures.items()}
        for (name, upsert), (duplicates, table) in results.items():
            print(
                f"{name} {'upsert' if upsert else 'insert'}: {len(duplicates)} kills, rows "
                f"committed past the acknowledgement per kill: max {max(duplicates)}, "
                f"total {sum(duplicates)}"
            )
            assert len(duplicates) >= KILLS // 2, "most runs must be killed mid-stream"
            assert max(duplicates) <= MAX_DUPLICATES_PER_KILL
            if upsert:
                rows = Counter(r[0] for r in dbs[name].execute(f"SELECT n FROM {table}"))
                assert max(rows.values()) == 1  # rewritten, never duplicated
