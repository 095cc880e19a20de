"""Redis under SIGKILL: a real pump (the stream source in a consumer group, the list sink) in a
subprocess, killed at random moments and restarted each time: every entry the group
acknowledged is in the list, and the last run delivers the rest (its own pending first)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from typing import Any

import pytest

from .conftest import Keys

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

KILLS = 6
ENTRIES = 20_000
MAX_DUPLICATES_PER_KILL = 2 * (1000 + 1024)

PUMP = textwrap.dedent(
    """
    import sys, time, json
    import pumpcore_executors
    from pumpcore import Pipeline
    from pumpcore_redis import RedisConnection, RedisSink, RedisStreamSource

    stream, out, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    host, port = json.loads(sys.argv[4])
    connection = RedisConnection(config={"host": host, "port": port})
    count = [0]

    def slow(context, event):
        count[0] += 1
        if count[0] % 20 == 0:
            time.sleep(0.001)  # spreads a run over seconds, so that kills land mid-stream
        return event["n"]

    p = Pipeline("Kill")
    p.build(
        RedisStreamSource(
            connection=connection, config={"stream": stream, "group": "g", "block": 0.05}
        ),
        slow,
        RedisSink(connection=connection, config={"key": out, "mode": "list"}),
    )
    report = pumpcore_executors.run(p, executor="sync", stop_after=seconds, handle_signals=False)
    sys.exit(1 if report.errors else 0)
    """
)


def order(entry_id: Any) -> tuple[int, int]:
    """An entry id as what orders it: (milliseconds, sequence)."""
    ms, seq = entry_id.split(b"-")
    return int(ms), int(seq)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_sigkill_loses_no_acknowledged_entry(keys: Keys) -> None:
    client, stream, out = keys.client, keys("in"), keys("out")
    ids = []
    for start in range(0, ENTRIES, 1000):
        pipe = client.pipeline(transaction=False)
        for n in range(start, start + 1000):
            pipe.xadd(stream, {"n": n})
        ids.extend(pipe.execute())
    number = {order(entry_id): n for n, entry_id in enumerate(ids)}
    rng = random.Random("kill-redis")

    def argv(seconds: float) -> list[str]:
        return [sys.executable, "-c", PUMP, stream, out, str(seconds), json.dumps(keys.address)]

    def acknowledged() -> set[int]:
        """Entries the group delivered and nobody holds pending: done for good."""
        groups = client.xinfo_groups(stream)
        if not groups:
            return set()
        last = order(groups[0]["last-delivered-id"])
        pending = client.xpending_range(stream, "g", "-", "+", ENTRIES)
        held = {order(e["message_id"]) for e in pending}
        return {n for entry_id, n in number.items() if entry_id <= last and entry_id not in held}

    duplicates: list[int] = []
    for kill in range(KILLS):
        before = client.llen(out)
        process = subprocess.Popen(argv(60), stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while process.poll() is None and time.monotonic() < deadline and client.llen(out) == before:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.3))
        if process.poll() is not None:
            process.communicate(timeout=20)
            break
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=20)
        written = Counter(int(v) for v in client.lrange(out, 0, -1))
        acked = acknowledged()
        assert acked <= set(written), f"kill {kill}: acknowledged, not written"
        # Written but not acknowledged: the next run delivers it again.
        duplicates.append(len(set(written) - acked))
    process = subprocess.Popen(argv(4), stderr=subprocess.PIPE)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()[-2000:]
    written = Counter(int(v) for v in client.lrange(out, 0, -1))
    assert set(written) == set(range(ENTRIES))
    assert sum(written.values()) - ENTRIES <= sum(duplicates)
    assert client.xpending(stream, "g")["pending"] == 0
    print(
        f"redis: {len(duplicates)} kills, entries written but not acknowledged per kill (written "
        f"again by the next run): max {max(duplicates)}, "
        f"total {sum(duplicates)}"
    )
    assert len(duplicates) >= KILLS // 2
    assert max(duplicates) <= MAX_DUPLICATES_PER_KILL
