"""MQTTSource → MQTTSink under SIGKILL at random moments, restarted on each executor in turn: the
persistent session keeps what a killed run did not acknowledge and delivers it to the next, so
no input is lost. (Mosquitto does not tell how many a session acknowledged: the duplicates are
counted in all, not per kill. Fewer inputs than Mosquitto's ``max_queued_messages``, 1000, or
the broker itself drops them for a session that is away.)"""

from __future__ import annotations

import signal

import pytest

from ...servers import service
from .._kill import kill_and_restart, python, throttle
from .conftest import Mosquitto

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

TOTAL = 600
KILLS = 4

PUMP = (
    """
import sys, time
import pumpcore_executors
from pumpcore import Pipeline
from pumpcore_mqtt import MQTTConnection, MQTTSink, MQTTSource

host, port, inbox, client_id, outbox, executor, last = sys.argv[1:8]
"""
    + throttle(250)
    + """
connection = MQTTConnection(config={"host": host, "port": int(port)})
p = Pipeline("Kill")
p.build(
    MQTTSource(connection=connection, config={
        "topics": inbox, "client_id": client_id, "end_after_idle": 1.0 if last == "1" else 0}),
    throttle,
    MQTTSink(connection=connection, config={"topic": outbox}),
)
report = pumpcore_executors.run(p, executor=executor, handle_signals=False)
sys.exit(1 if report.errors else 0)
"""
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_sigkill_at_random_moments_loses_nothing(mosquitto: Mosquitto) -> None:
    inbox, outbox = mosquitto.topic("kill-in"), mosquitto.topic("kill-out")
    client_id = mosquitto.session("kill", [inbox])
    out = mosquitto.collector(outbox)
    mosquitto.publish(inbox, [b"%d" % n for n in range(TOTAL)])
    host, port = service("mosquitto")
    kill_and_restart(
        lambda executor, last: python(
            PUMP, host, str(port), inbox, client_id, outbox, executor, str(int(last))
        ),
        lambda: [int(b) for b in out.received(settle=0.01)],
        None,
        TOTAL,
        KILLS,
        "mqtt",
    )
    total = len(out.received()) - TOTAL
    print(f"MQTT: {KILLS} kills; {total} duplicates in all")
    # At most what a run published but did not acknowledge: the broker's in-flight window
    # (20) and a commit's worth, per kill.
    assert total <= KILLS * (20 + 1000)
