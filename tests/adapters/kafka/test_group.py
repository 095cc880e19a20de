"""A consumer group of pump processes: two members split the partitions, a third joins and
takes its share, a member killed with SIGKILL has its partitions moved to the others (once its
session expires), and no message is lost."""

from __future__ import annotations

import os
import re
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

COUNT = 2000
PARTITIONS = 6
PUMP = Path(__file__).with_name("_pump.py")
ASSIGNED = re.compile(r"^(\w+) \S+: assigned (.*)$", re.MULTILINE)


def assignments(log: Path) -> list[set[int]]:
    """Each assignment a member logged, as partition numbers."""
    return [
        {int(p.rsplit(":", 1)[1]) for p in parts.split(", ") if p != "nothing"}
        for _, parts in ASSIGNED.findall(log.read_text())
    ]


def wait_for(what: str, check: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_group_splits_partitions_and_moves_a_killed_members(
    broker: Broker, name: str, tmp_path: Path
) -> None:
    broker.create(f"{name}-in", PARTITIONS)
    broker.create(f"{name}-out", PARTITIONS)
    broker.produce(f"{name}-in", [(b"%d" % n, orjson.dumps({"n": n})) for n in range(COUNT)])
    root = Path(__file__).parents[3]
    env = {**os.environ, "PYTHONPATH": str(root)}
    logs = {m: tmp_path / f"{m}.log" for m in ("m0", "m1", "m2")}
    members: dict[str, subprocess.Popen[bytes]] = {}

    def start(member: str, executor: str) -> None:
        argv = [sys.executable, str(PUMP), broker.bootstrap, f"{name}-in", f"{name}-out"]
        argv += [f"{name}-g", executor, member, "0.25"]  # about 80 events/s per member
        with logs[member].open("ab") as log:
            members[member] = subprocess.Popen(argv, stdout=log, stderr=log, env=env, cwd=root)

    def holds(member: str) -> set[int]:
        found = assignments(logs[member])
        return found[-1] if found else set()

    try:
        start("m0", "threads")
        start("m1", "asyncio")
        wait_for("two members to split the partitions", lambda: holds("m0") and holds("m1"))
        assert holds("m0") | holds("m1") == set(range(PARTITIONS))
        assert not holds("m0") & holds("m1")
        start("m2", "trio")
        wait_for("the third member's share", lambda: holds("m2"))
        wait_for(
            "the others to give it up",
            lambda: (
                not holds("m2") & (holds("m0") | holds("m1"))
                and holds("m0") | holds("m1") | holds("m2") == set(range(PARTITIONS))
            ),
        )
        moved = holds("m0")
        os.kill(members["m0"].pid, signal.SIGKILL)
        members["m0"].wait(10)
        wait_for(
            "the killed member's partitions to move",
            lambda: holds("m1") | holds("m2") == set(range(PARTITIONS)),
        )
        assert moved <= holds("m1") | holds("m2")
        group = f"{name}-g"

        def committed() -> int:
            return sum(max(o, 0) for o in broker.committed(group, f"{name}-in", PARTITIONS))

        wait_for("every message to be committed", lambda: committed() == COUNT, timeout=60)
        for member in ("m1", "m2"):
            members[member].send_signal(signal.SIGTERM)
            assert members[member].wait(30) == 0, logs[member].read_text()[-2000:]
    finally:
        for process in members.values():
            process.kill()
            process.wait(10)
    tail = broker.tail(f"{name}-out", PARTITIONS)
    tail.read(0.5)
    tail.close()
    events = [orjson.loads(m.value()) for m in tail.messages]  # type: ignore[arg-type]
    seen = Counter(e["n"] for e in events)
    lost = sorted(set(range(COUNT)) - set(seen))
    assert not lost, f"lost: {lost[:20]}"
    by = Counter(e["by"] for e in events)
    assert set(by) == {"m0", "m1", "m2"}, by  # every member did its share
    print(f"group: written by member {dict(by)}; duplicates {sum(seen.values()) - COUNT}")
