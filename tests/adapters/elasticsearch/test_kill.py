"""A pump into Elasticsearch (noida-db, then osmem-server) killed with SIGKILL at random moments
and restarted each time, on a different executor each run: no acknowledged document is ever
missing, and the run that finishes leaves every record indexed. Documents have explicit ids
(``_id`` = the record's number), so what a restart replays overwrites its earlier copy:
duplicates are counted as the documents written beyond what was acknowledged when the pump was
killed."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pumpcore.testing import conformance

from ._cluster import Cluster

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

KILLS = 6
RECORDS = 20_000
# A commit's flushed but not yet acknowledged documents, and what was written since: at most
# commit_every positions and a batch more, twice.
MAX_DUPLICATES_PER_KILL = 2 * (1000 + 256)

PUMP = textwrap.dedent(
    """
    import sys, time
    import pumpcore_executors
    from pumpcore import Pipeline
    from pumpcore_elasticsearch import ElasticSearchConnection, ElasticSearchSink
    from pumpcore_files import FileLineSource

    inbox, url, index, executor = sys.argv[1:5]
    count = [0]

    def record(context, line):
        count[0] += 1
        if count[0] % 100 == 0:
            time.sleep(0.004)  # spreads a run over seconds, so that kills land mid-stream
        return {"_id": int(line), "n": int(line)}

    p = Pipeline("Kill")
    p.build(
        FileLineSource(
            config={"path": inbox + "/*.log", "mode": "r", "watch": False,
                    "offset_commit_interval": 0}
        ),
        record,
        ElasticSearchSink(
            ElasticSearchConnection(config={"url": url}),
            config={"index": index, "bulk_max_count": 500},
        ),
    )
    report = pumpcore_executors.run(p, executor=executor, handle_signals=False)
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


@contextlib.contextmanager
def pump(
    inbox: Path, cluster: Cluster, index: str, executor: str
) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-c", PUMP, str(inbox), cluster.url, index, executor],
        stderr=subprocess.PIPE,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=20)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_sigkill_at_random_moments_loses_no_acknowledged_document(
    cluster: Cluster, tmp_path: Path
) -> None:
    executors = conformance.available_executors()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    lines = [f"{n}\n".encode() for n in range(RECORDS)]
    (inbox / "in.log").write_bytes(b"".join(lines))
    ends, offset = [], 0
    for line in lines:
        offset += len(line)
        ends.append(offset)
    index = cluster.new_index("kill")
    cluster.create(index, {"n": {"type": "long"}})
    rng = random.Random(f"kill-{cluster.name}")
    duplicates: list[int] = []
    kills = 0
    for run in range(KILLS):
        executor = executors[run % len(executors)]
        before = cluster.count(index)
        with pump(inbox, cluster, index, executor) as process:
            deadline = time.monotonic() + 15
            while process.poll() is None and time.monotonic() < deadline:
                if cluster.count(index) != before:
                    break  # it writes: kill it at a random moment from now
                time.sleep(0.02)
            time.sleep(rng.uniform(0, 0.3))
            if process.poll() is not None:
                break  # it finished first
            os.kill(process.pid, signal.SIGKILL)
            assert process.wait(timeout=10) == -signal.SIGKILL
        kills += 1
        acked = acknowledged(inbox, ends)
        # Every acknowledged record is indexed (durable when the bulk answered) ...
        assert cluster.count(index, {"range": {"n": {"lt": acked}}}) == acked, f"kill {kills}"
        # ... and documents are written in order, so what is there beyond them is a prefix too:
        # the next run writes it again (an overwrite, by id).
        written = cluster.count(index)
        assert cluster.count(index, {"range": {"n": {"lt": written}}}) == written
        duplicates.append(written - acked)
    with pump(inbox, cluster, index, executors[0]) as process:
        assert process.wait(timeout=60) == 0
    assert cluster.count(index) == RECORDS
    assert (inbox / "in.log-processed").exists()
    assert kills >= KILLS // 2, "most runs must be killed mid-stream"
    print(
        f"{cluster.name}: {kills} kills, duplicates per kill: max {max(duplicates)}, "
        f"total {sum(duplicates)}"
    )
    assert max(duplicates) <= MAX_DUPLICATES_PER_KILL
