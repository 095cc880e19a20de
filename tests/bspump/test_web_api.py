"""The web API over real HTTP while a pump runs, on every executor: pipelines, lookups, health,
and ``/metrics`` parsed by prometheus_client's own parser."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pumpcore_executors
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pumpcore_bspump import BSPumpApplication, Processor
from pumpcore_bspump.common import IteratorSource, ListSink
from pumpcore_bspump.web import WebAPI, WebAPIServer
from pumpcore_executors import RunHandle

from pumpcore import Context, Pipeline, Received
from pumpcore.lookup import MappingLookup
from pumpcore.lowlevel import BlockingSource, ReadResult
from pumpcore.testing import conformance

from ..executors.conftest import run_kwargs


class Numbers(BlockingSource):
    """Integer events 0..n-1 at integer positions, acknowledged into ``acked``."""

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n, self.next = n, 0
        self.acked: list[int] = []

    def read(self, max_items: int) -> ReadResult:
        if self.next >= self.n:
            return []  # stays open: the run goes on until stopped
        count = min(max_items, self.n - self.next)
        items = [Received(i, position=i) for i in range(self.next, self.next + count)]
        self.next += count
        return items

    def acknowledge(self, positions: Sequence[Any]) -> None:
        self.acked.extend(positions)


class FailOnSeven(Processor):
    def process(self, context: Context, event: Any) -> Any:
        if event == 7:
            raise ValueError("seven")
        return None if event % 2 else event


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers["Content-Type"], exc.read()


def metrics(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample, by name and labels; each family typed (the parser calls a family whose
    TYPE line does not match its samples "unknown")."""
    status, kind, body = get(url + "/metrics")
    assert status == 200
    assert kind.startswith("text/plain; version=0.0.4")
    families = list(text_string_to_metric_families(body.decode()))
    assert {f.type for f in families} <= {"counter", "gauge"}
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture(params=conformance.executor_params())
def running(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any, Numbers]]:
    """A BSPump app's pump running in a thread under each executor, with its web API."""
    executor = request.param
    app = BSPumpApplication(args=[])
    svc = app.get_service("bspump.PumpService")
    numbers = Numbers(20, id="Numbers")
    counted = Pipeline("Counted", error_policy="soft")
    counted.build(numbers, FailOnSeven(app, counted), ListSink(app, counted))
    listed = Pipeline("Listed")
    listed.build(IteratorSource(app, listed, ["a", "b"]), ListSink(app, listed, id="Out"))
    svc.add_pipelines(counted, listed)
    colors = MappingLookup(id="Colors")
    colors.set({"red": 1})
    svc.add_lookup(colors)
    server = WebAPIServer(svc, "127.0.0.1:0")
    server.start()
    handle = RunHandle()
    thread = threading.Thread(
        target=pumpcore_executors.run,
        args=(svc.Pump,),
        kwargs={"executor": executor, "handle": handle, "until_stopped": True}
        | run_kwargs(executor),
    )
    thread.start()
    try:
        yield server.url, svc, numbers
    finally:
        handle.stop()
        thread.join(timeout=30)
        server.stop()
    assert not thread.is_alive()


def test_metrics_match_the_pipelines(running: tuple[str, Any, Numbers]) -> None:
    url, svc, numbers = running
    wait_for(lambda: numbers.acked == list(range(20)))
    wait_for(lambda: svc.Pipelines["Listed"].statistics().event_out == 2)
    values = metrics(url)
    counted = (("pipeline", "Counted"),)
    assert values[("pumpcore_pipeline_event_in_total", counted)] == 20
    assert values[("pumpcore_pipeline_event_out_total", counted)] == 10  # the even ones
    assert values[("pumpcore_pipeline_event_drop_total", counted)] == 9  # the odd ones but 7
    assert values[("pumpcore_pipeline_warning_total", counted)] == 1
    assert values[("pumpcore_pipeline_error_total", counted)] == 0
    assert values[("pumpcore_pipeline_event_out_total", (("pipeline", "Listed"),))] == 2
    assert values[("pumpcore_pipeline_ready", counted)] == 1
    assert values[("pumpcore_pipeline_throttles", counted)] == 0
    source = (("pipeline", "Counted"), ("source", "Numbers"))
    assert values[("pumpcore_source_committed_positions_total", source)] == 20
    assert values[("pumpcore_source_commit_position", source)] == 19
    assert values[("pumpcore_source_pending_positions", source)] == 0
    assert values[("pumpcore_source_buffered", source)] == 0
    # Failures per component are the component events' warning/error kinds, counted once.
    assert not any(name == "pumpcore_component_failures_total" for name, _ in values)
    expected = {
        ("FailOnSeven", "in"): 20,
        ("FailOnSeven", "out"): 10,
        ("FailOnSeven", "drop"): 9,
        ("FailOnSeven", "warning"): 1,
        ("ListSink", "in"): 10,
        ("ListSink", "out"): 10,
    }
    for component in ("FailOnSeven", "ListSink"):
        for kind in ("in", "out", "drop", "warning", "error", "generated", "absorbed"):
            labels = (("component", component), ("kind", kind), ("pipeline", "Counted"))
            assert values[("pumpcore_component_events_total", labels)] == expected.get(
                (component, kind), 0
            ), (component, kind)
        in_flight = (("component", component), ("pipeline", "Counted"))
        assert values[("pumpcore_component_in_flight", in_flight)] == 0
    out = (("component", "Out"), ("kind", "out"), ("pipeline", "Listed"))
    assert values[("pumpcore_component_events_total", out)] == 2
    assert values[("pumpcore_lookup_version", (("lookup", "Colors"),))] == 1


def test_pipelines_lookups_and_health(running: tuple[str, Any, Numbers]) -> None:
    url, _, numbers = running
    wait_for(lambda: numbers.acked == list(range(20)))
    status, kind, body = get(url + "/bspump/v1/pipelines")
    assert (status, kind) == (200, "application/json")
    pipelines = json.loads(body)
    assert sorted(pipelines) == ["Counted", "Listed"]
    counted = pipelines["Counted"]
    assert counted["ready"] is True
    assert counted["statistics"]["event.in"] == 20
    assert counted["processors"] == ["FailOnSeven", "ListSink"]
    components = counted["components"]
    assert list(components) == ["FailOnSeven", "ListSink"]
    assert components["FailOnSeven"] == {
        "event.in": 20,
        "event.out": 10,
        "event.drop": 9,
        "warning": 1,
        "error": 0,
        "event.generated": 0,
        "event.absorbed": 0,
        "event.in_flight": 0,
    }
    assert components["ListSink"]["event.in"] == components["ListSink"]["event.out"] == 10
    assert counted["sources"] == [
        {
            "id": "Numbers",
            "buffered": 0,
            "pending": 0,
            "committed": 20,
            "commit_position": "19",
            "poisoned": False,
        }
    ]
    [error] = counted["errors"]
    assert error["component"] == "FailOnSeven"
    assert error["exception"] == "ValueError('seven')"
    assert error["soft"] is True
    status, _, body = get(url + "/bspump/v1/pipelines/Listed")
    assert status == 200
    assert json.loads(body)["statistics"]["event.out"] == 2
    status, _, body = get(url + "/bspump/v1/pipelines/Nope")
    assert status == 404
    assert json.loads(body) == {"error": "no pipeline 'Nope'", "pipelines": ["Counted", "Listed"]}
    status, _, body = get(url + "/bspump/v1/lookups")
    assert json.loads(body) == {
        "Colors": {"type": "MappingLookup", "version": 1, "loaded": 0, "unchanged": 0, "failed": 0}
    }
    status, _, body = get(url + "/health")
    assert (status, json.loads(body)) == (200, {"status": "ok", "failed": {}})


def test_health_names_a_pipeline_stopped_by_an_error() -> None:
    app = BSPumpApplication(args=[])
    svc = app.get_service("bspump.PumpService")
    pipeline = Pipeline("Broken")
    pipeline.build(IteratorSource(app, pipeline, [7]), FailOnSeven(app, pipeline), ListSink())
    svc.add_pipeline(pipeline)
    server = WebAPIServer(svc, "127.0.0.1:0")
    server.start()
    try:
        pumpcore_executors.run(svc.Pump, **run_kwargs("sync"))
        status, _, body = get(server.url + "/health")
        assert status == 503
        assert json.loads(body) == {
            "status": "failed",
            "failed": {"Broken": "FailOnSeven: ValueError('seven')"},
        }
        assert (
            metrics(server.url)[("pumpcore_pipeline_stopped_by_error", (("pipeline", "Broken"),))]
            == 1
        )
    finally:
        server.stop()


def test_a_taken_port_is_named() -> None:
    app = BSPumpApplication(args=[])
    first = WebAPIServer(app.PumpService, "127.0.0.1:0")
    first.start()
    try:
        assert first.address is not None
        second = WebAPIServer(app.PumpService, f"127.0.0.1:{first.address[1]}")
        with pytest.raises(OSError, match=r"web API: cannot listen on 127\.0\.0\.1:\d+"):
            second.start()
    finally:
        first.stop()


def test_a_host_application_mounts_the_routes_without_a_server() -> None:
    app = BSPumpApplication(args=[])
    pipeline = Pipeline("P")
    pipeline.build(IteratorSource(app, pipeline, []), ListSink())
    app.PumpService.add_pipeline(pipeline)
    api = WebAPI(app.PumpService)
    health = api.handle("GET", "/health?verbose=1")
    assert (health.status, health.content_type) == (200, "application/json")
    assert json.loads(health.body) == {"status": "ok", "failed": {}}
    metrics_text = api.handle("GET", "/metrics/").body.decode()
    [family] = [
        f
        for f in text_string_to_metric_families(metrics_text)
        if f.name == "pumpcore_pipeline_event_in"
    ]
    assert family.type == "counter"
    assert [(s.labels, s.value) for s in family.samples] == [({"pipeline": "P"}, 0)]
    assert api.handle("POST", "/metrics").status == 405
    assert json.loads(api.handle("GET", "/nope").body) == {"error": "no route '/nope'"}
