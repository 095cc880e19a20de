"""At-least-once under SIGKILL: a real pump (KafkaSource → KafkaSink) in a subprocess, killed at
random moments and restarted each time (cycling the executors), then run to the end: no input
message is lost, and each kill duplicates at most what was written since the last commit."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from ._kafka import Broker

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

KILLS = 6
COUNT = 4000
PARTITIONS = 3
# What a killed run may have written beyond its last commit: a commit's worth (commit_every,
# 1000) flushed but not acknowledged, plus what was read and written since (two reads of 100 and
# a batch of 256), twice over for a commit in flight.
MAX_DUPLICATES_PER_KILL = 2 * (1000 + 2 * 100 + 256)
EXECUTORS = ("sync", "threads", "asyncio", "trio")
PUMP = Path(__file__).with_name("_pump.py")


def start(
    broker: Broker, name: str, executor: str, member: str, log: Path
) -> subprocess.Popen[bytes]:
    # The partitions are assigned (the group only keeps the commits): a restart reads at once,
    # instead of waiting for the group to drop the killed member (its session, 6 s).
    topics = ",".join(f"{name}-in:{p}" for p in range(PARTITIONS))
    argv = [sys.executable, str(PUMP), broker.bootstrap, topics, f"{name}-out"]
    argv += [f"{name}-g", executor, member, "0.03"]
    root = Path(__file__).parents[3]
    env = {**os.environ, "PYTHONPATH": str(root)}
    with log.open("ab") as out:
        return subprocess.Popen(argv, stderr=out, stdout=out, env=env, cwd=root)


def test_sigkill_at_random_moments_loses_nothing(broker: Broker, name: str, tmp_path: Path) -> None:
    broker.create(f"{name}-in", PARTITIONS)
    broker.create(f"{name}-out", PARTITIONS)
    broker.produce(f"{name}-in", [(b"%d" % n, orjson.dumps({"n": n})) for n in range(COUNT)])
    rng = random.Random(f"kafka-kill-{name}")
    log = tmp_path / "pump.log"

    def committed() -> int:
        return sum(max(o, 0) for o in broker.committed(f"{name}-g", f"{name}-in", PARTITIONS))

    tail = broker.tail(f"{name}-out", PARTITIONS)

    def written() -> int:
        return tail.read(0.05)

    duplicates: list[int] = []
    began = time.monotonic()
    acked, out, kills = 0, 0, 0
    for run in range(KILLS):
        process = start(broker, name, EXECUTORS[run % 4], f"run{run}", log)
        try:
            deadline = time.monotonic() + 30
            while written() == out and time.monotonic() < deadline:  # until this run writes
                time.sleep(0.05)
            if committed() == COUNT:
                break  # done before the planned kills: too fast a machine
            time.sleep(rng.uniform(0, 0.8))
            if process.poll() is not None:
                pytest.fail(f"run {run} ended by itself: {log.read_text()[-2000:]}")
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.kill()
            process.wait(10)
        kills += 1
        print(f"kill {kills} at {time.monotonic() - began:.1f} s")
        out_now, acked_now = tail.read(0.3), committed()
        # This run read from offset `acked` on, wrote out_now - out messages; beyond the new
        # commit, those are read again by the next run.
        assert acked_now <= acked + (out_now - out), f"kill {kills}: committed, not written"
        duplicates.append(acked + (out_now - out) - acked_now)
        acked, out = acked_now, out_now

    assert kills == KILLS, f"only {kills} runs were killed mid-stream"
    process = start(broker, name, "sync", "last", log)
    try:
        deadline = time.monotonic() + 60
        while committed() < COUNT and time.monotonic() < deadline:
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()[-2000:]
    finally:
        process.kill()
    assert committed() == COUNT
    tail.read(0.5)
    tail.close()
    seen = Counter(orjson.loads(m.value())["n"] for m in tail.messages)  # type: ignore[arg-type]
    lost = sorted(set(range(COUNT)) - set(seen))
    assert not lost, f"lost: {lost[:20]}"
    total = sum(seen.values()) - COUNT
    print(f"{kills} kills; duplicates per kill {duplicates}, max {max(duplicates)}, total {total}")
    assert total == sum(duplicates)
    assert max(duplicates) <= MAX_DUPLICATES_PER_KILL
