"""A pump in a subprocess for the kill and consumer group tests: Kafka → parse → Kafka.

argv: bootstrap, source topics (``topic:partition`` entries are assigned, not subscribed),
sink topic, group, executor, member name, seconds to sleep every 20 events. It logs its partition
assignments to stderr and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import pumpcore_executors
from pumpcore_kafka import KafkaConnection, KafkaSink, KafkaSource

from pumpcore import Pipeline

GROUP_CONFIG = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}


def main() -> None:
    bootstrap, source_topic, sink_topic, group, executor, member, pause = sys.argv[1:8]
    logging.basicConfig(level=logging.INFO, format=f"{member} %(message)s", stream=sys.stderr)
    count = [0]

    def throttle(context: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
        # Spreads a run over seconds, so that kills land mid-stream.
        count[0] += 1
        if count[0] % 20 == 0:
            time.sleep(float(pause))
        event["by"] = member
        return event

    connection = KafkaConnection(config={"bootstrap_servers": bootstrap})
    p = Pipeline("Kill")
    p.build(
        KafkaSource(
            connection=connection,
            config={
                "topic": source_topic,
                "group_id": group,
                "decode": "json",
                "read_size": 100,
                "consumer": GROUP_CONFIG,
            },
        ),
        throttle,
        KafkaSink(connection=connection, config={"topic": sink_topic}),
    )
    report = pumpcore_executors.run(p, executor=executor)  # type: ignore[arg-type]
    sys.exit(1 if report.errors else 0)


if __name__ == "__main__":
    main()
