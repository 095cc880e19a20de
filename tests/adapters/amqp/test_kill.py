"""AMQPSource → AMQPSink under SIGKILL at random moments, restarted on each executor in turn:
no input is lost, and each kill duplicates at most what was written but not yet acknowledged
(a commit, plus the prefetched deliveries the sink had published)."""

from __future__ import annotations

import signal

import pytest

from .._kill import kill_and_restart, python, throttle
from .conftest import Broker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

TOTAL = 1500
KILLS = 4

PUMP = (
    """
import sys, time
import pumpcore_executors
from pumpcore import Pipeline
from pumpcore_amqp import AMQPConnection, AMQPSink, AMQPSource

url, inbox, outbox, executor, last = sys.argv[1:6]
"""
    + throttle(1000)
    + """
connection = AMQPConnection(config={"url": url})
p = Pipeline("Kill")
p.build(
    AMQPSource(connection=connection, config={
        "queue": inbox, "end_after_idle": 1.0 if last == "1" else 0, "prefetch_count": 500}),
    throttle,
    AMQPSink(connection=connection, config={"routing_key": outbox}),
)
report = pumpcore_executors.run(p, executor=executor, handle_signals=False, commit_every=200)
sys.exit(1 if report.errors else 0)
"""
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_sigkill_at_random_moments_loses_nothing(broker: Broker) -> None:
    inbox, outbox = broker.queue("kill-in"), broker.queue("kill-out")
    broker.publish(inbox, [b"%d" % n for n in range(TOTAL)])
    duplicates = kill_and_restart(
        lambda executor, last: python(PUMP, broker.url, inbox, outbox, executor, str(int(last))),
        lambda: [int(b) for b in broker.drain(outbox)],
        lambda: TOTAL - broker.count(inbox),
        TOTAL,
        KILLS,
        "amqp",
    )
    print(f"AMQP: {KILLS} kills; duplicates per kill: {duplicates}, max {max(duplicates)}")
    # At most the prefetched deliveries a run published but did not acknowledge.
    assert max(duplicates) <= 500 + 200
