"""The cluster stops and comes back on the same port mid-run: the sink's flush retries through
the gap (reconnecting), the run ends without an error and nothing is lost: every document read
from the moment the server had stopped must be there. What a server answered for while it was
shutting down is its own to keep (osmem-server keeps nothing across a restart, and noida-db
was seen to drop the writes of its last moments under load), so those are not asked for."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pumpcore_executors
import pytest
from pumpcore_elasticsearch import ElasticSearchSink

from pumpcore import BlockingSource, Pipeline, Received
from pumpcore.testing import conformance

from ...servers import ChildServer
from ._cluster import Cluster, noida_server, osmem_server
from ._helpers import connect, run_kwargs

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]

COUNT = 400


class Trickle(BlockingSource):
    """Numbers 0..COUNT-1, ten a read every 5 ms: a run long enough to restart a server in."""

    def __init__(self) -> None:
        super().__init__(id="Trickle")
        self.next = 0
        self.acknowledged = 0

    def read(self, max_items: int) -> Sequence[Received] | None:
        if self.next >= COUNT:
            return None
        time.sleep(0.005)
        stop = min(COUNT, self.next + 10)
        items = [Received({"_id": n, "n": n}, position=n) for n in range(self.next, stop)]
        self.next = stop
        return items

    def acknowledge(self, positions: Sequence[Any]) -> None:
        self.acknowledged = positions[-1] + 1


@pytest.mark.parametrize("executor", conformance.executor_params())
@pytest.mark.parametrize("kind", ["noida", "osmem"])
def test_a_cluster_restart_mid_run_loses_nothing(kind: str, tmp_path: Path, executor: str) -> None:
    server: ChildServer = (
        noida_server(tmp_path / "data", tmp_path / "log")
        if kind == "noida"
        else osmem_server(tmp_path / "log")
    )
    with server:
        cluster = Cluster(kind, server)
        index = cluster.new_index()
        source = Trickle()
        sink = ElasticSearchSink(connect(cluster, retries=40), config={"index": index})
        pipeline = Pipeline("Restart")
        pipeline.build(source, sink)
        read_at_stop: list[int] = []

        def bounce() -> None:
            while source.next < COUNT // 3:
                time.sleep(0.005)
            server.stop()
            read_at_stop.append(source.next)
            time.sleep(0.6)
            server.start()

        bouncer = threading.Thread(target=bounce)
        bouncer.start()
        try:
            report = pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))  # type: ignore[arg-type]
        finally:
            bouncer.join()
        assert report.errors == {}
        assert source.acknowledged == COUNT
        assert sink.Connection.statistics().retries >= 1  # it did meet the gap
        present = {d["n"] for d in cluster.docs(index)}
        must = range(read_at_stop[0], COUNT)
        assert set(must) <= present, sorted(set(must) - present)[:10]
