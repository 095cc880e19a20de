"""NATSSource → NATSSink under SIGKILL at random moments, restarted on each executor in turn: no
input is lost (what a killed run read but did not acknowledge comes back after ``ack_wait``),
and each kill duplicates at most what was stored but not yet acknowledged."""

from __future__ import annotations

import signal

import pytest

from .._kill import kill_and_restart, python, throttle
from .conftest import JetStream

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

TOTAL = 1500
KILLS = 4

PUMP = (
    """
import sys, time
import pumpcore_executors
from pumpcore import Pipeline
from pumpcore_nats import NATSConnection, NATSSink, NATSSource

url, stream, out_subject, executor, last = sys.argv[1:6]
"""
    + throttle(1000)
    + """
connection = NATSConnection(config={"servers": url})
p = Pipeline("Kill")
p.build(
    NATSSource(connection=connection, config={
        "stream": stream, "durable": "pump", "ack_wait": 1.0,
        "end_after_idle": 2.0 if last == "1" else 0}),
    throttle,
    NATSSink(connection=connection, config={"subject": out_subject}),
)
report = pumpcore_executors.run(p, executor=executor, handle_signals=False, commit_every=200)
sys.exit(1 if report.errors else 0)
"""
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_sigkill_at_random_moments_loses_nothing(jetstream: JetStream) -> None:
    inbox, in_subject = jetstream.stream("kill_in")
    outbox, out_subject = jetstream.stream("kill_out")
    jetstream.publish(in_subject, [b"%d" % n for n in range(TOTAL)])
    duplicates = kill_and_restart(
        lambda executor, last: python(
            PUMP, jetstream.url, inbox, out_subject, executor, str(int(last))
        ),
        lambda: [int(b) for b in jetstream.messages(outbox)],
        lambda: jetstream.acked(inbox, "pump"),
        TOTAL,
        KILLS,
        "nats",
    )
    total = len(jetstream.messages(outbox)) - TOTAL
    print(
        f"NATS: {KILLS} kills; duplicates per kill: {duplicates}, max {max(duplicates)}; "
        f"{total} in all"
    )
    # At most what a run read (a commit's worth and the read-ahead) and stored unacknowledged.
    assert max(duplicates) <= 200 + 3 * 1024
