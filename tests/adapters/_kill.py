"""SIGKILL at random moments for broker adapters: a pump (broker source → throttle → broker
sink) in a subprocess, killed mid-stream and restarted (on the next executor each time), then
run to the end; nothing acknowledged may be missing, and every input must arrive."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence

EXECUTORS = ("sync", "threads", "asyncio", "trio")


def throttle(per_second: int) -> str:
    """The pump's processor ``throttle``: at most ``per_second`` events a second, so that a run
    takes seconds and kills land mid-stream."""
    return f"""
count = [0]
def throttle(context, event):
    count[0] += 1
    if count[0] % 10 == 0:
        time.sleep({10 / per_second})
    return event
"""


def kill_and_restart(
    start: Callable[[str, bool], subprocess.Popen[bytes]],
    written: Callable[[], Sequence[int]],
    acknowledged: Callable[[], int] | None,
    total: int,
    kills: int,
    seed: str,
) -> list[int]:
    """Kill ``kills`` runs of the pump ``start(executor, last)`` makes, then run it to the end.

    Args:
        start: starts the pump on an executor; ``last``: it ends once the input is drained.
        written: the numbers the output holds so far, in order.
        acknowledged: how many inputs the broker holds as acknowledged (a restart does not
            see them again); None when the broker does not tell.
        total: the inputs, numbered ``0 .. total - 1``.

    Returns:
        The duplicates each kill left (written beyond what was acknowledged); empty without
        ``acknowledged``.
    """
    rng = random.Random(seed)
    duplicates = []
    for run in range(kills):
        out_before = len(written())
        acked_before = 0 if acknowledged is None else acknowledged()
        process = start(EXECUTORS[run % len(EXECUTORS)], False)
        try:
            deadline = time.monotonic() + 15
            while len(written()) == out_before and time.monotonic() < deadline:
                assert process.poll() is None, process.communicate()[1][-2000:]
                time.sleep(0.02)
            time.sleep(rng.uniform(0, 0.4))
            os.kill(process.pid, signal.SIGKILL)
            assert process.wait(10) == -signal.SIGKILL
        finally:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=10)
        time.sleep(0.3)  # the broker notices the dead connection and takes back its deliveries
        if acknowledged is not None:
            new_out = len(written()) - out_before
            duplicates.append(new_out - (acknowledged() - acked_before))
    process = start(EXECUTORS[kills % len(EXECUTORS)], True)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-3000:]
    numbers = list(written())
    seen = Counter(numbers)
    missing = sorted(set(range(total)) - set(seen))
    assert not missing, f"{len(missing)} inputs lost, first {missing[:10]}"
    # Each kill's duplicates are measured against the broker's count of acknowledged inputs;
    # the total is what the output holds beyond one of each.
    assert len(numbers) - total >= 0
    return duplicates


def python(script: str, *args: str) -> subprocess.Popen[bytes]:
    """A pump subprocess running ``script`` with ``args``."""
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
