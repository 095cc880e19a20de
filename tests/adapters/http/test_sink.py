"""HTTPClientSink against a real HTTP server: bodies, batches, retries, and failures that raise
from flush (never a silent drop, never acknowledged)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pumpcore_executors
import pytest
from pumpcore_files import FileLineSource
from pumpcore_http import HTTPClientError, HTTPClientSink

from pumpcore import ConfigError, Failure, Pipeline, Source
from pumpcore.common import IteratorSource
from pumpcore.testing import conformance

from ._server import Reply, ScriptedHTTPServer, refused_url

pytestmark = pytest.mark.timeout(30)

every_executor = pytest.mark.parametrize("executor", conformance.executor_params())


def send(
    sink: HTTPClientSink,
    events: list[Any] | Source,
    policy: Any = "soft",
    executor: str = "sync",
) -> tuple[pumpcore_executors.RunReport, list[Failure]]:
    p = Pipeline("Push", error_policy=policy)
    p.build(events if isinstance(events, Source) else IteratorSource(events), sink)
    failures: list[Failure] = []
    p.add_failure_listener(failures.append)
    extra = {"blocking_threshold": 0.5} if executor in ("asyncio", "trio") else {}
    report = pumpcore_executors.run(
        p,
        executor=executor,  # type: ignore[arg-type]
        handle_signals=False,
        **extra,  # type: ignore[arg-type]
    )
    return report, failures


def fast(url: str, **config: Any) -> HTTPClientSink:
    return HTTPClientSink(config={"url": url, "fail_chilldown": 0.01, "timeout": 5, **config})


@every_executor
def test_each_event_is_posted_in_order_with_its_content_type(
    server: ScriptedHTTPServer, executor: str
) -> None:
    url = server.script("/in", Reply(204))
    report, _ = send(fast(url), [{"price": 1.5}, "text ü", b"\x00raw", [1, 2]], executor=executor)
    received = server.requests_to("/in")
    assert [r.method for r in received] == ["POST"] * 4
    assert json.loads(received[0].body) == {"price": 1.5}
    assert received[0].headers["Content-Type"] == "application/json"
    assert received[1].body == "text ü".encode()
    assert received[1].headers["Content-Type"] == "text/plain; charset=utf-8"
    assert received[2].body == b"\x00raw"
    assert "Content-Type" not in received[2].headers
    assert json.loads(received[3].body) == [1, 2]
    assert report.statistics["Push"].event_out == 4


def test_server_errors_are_retried(server: ScriptedHTTPServer) -> None:
    url = server.script("/in", Reply(503), Reply(200))
    sink = fast(url, retries=1)
    report, failures = send(sink, [{"n": 1}])
    assert len(server.requests_to("/in")) == 2
    assert report.statistics["Push"].event_out == 1
    assert failures == []
    assert sink.statistics().failed_attempts == 1


def test_a_request_that_cannot_be_delivered_raises_from_flush(
    server: ScriptedHTTPServer,
) -> None:
    url = server.script("/in", Reply(200), Reply(500), Reply(500), Reply(200))
    sink = fast(url, retries=1)
    report, failures = send(sink, [{"n": 1}, {"n": 2}, {"n": 3}])
    stats = report.statistics["Push"]
    assert stats.source_error == 1  # the flush raised; the pipeline's policy counted it
    assert isinstance(failures[0].exception, HTTPClientError)
    assert failures[0].exception.status == 500
    assert failures[0].exception.attempts == 2
    # The failed request is given up (never acknowledged, so a restart sends it again). {"n": 3}
    # is sent by a later flush when one comes before the run ends (flush points come when the
    # run is idle, so that depends on timing); either way nothing after the failure is lost.
    sent = [json.loads(r.body)["n"] for r in server.requests_to("/in")]
    assert sent[:3] == [1, 2, 2]
    assert sent[3:] in ([], [3])
    assert sink.statistics().failures == 1


@every_executor
def test_what_the_server_refused_is_not_acknowledged_and_a_restart_sends_it(
    server: ScriptedHTTPServer, tmp_path: Path, executor: str
) -> None:
    (tmp_path / "in.log").write_bytes(b"one\ntwo\nthree\n")

    def lines() -> FileLineSource:
        return FileLineSource(config={"path": str(tmp_path / "*.log"), "mode": "r", "watch": False})

    url = server.script("/in", Reply(503))
    report, _ = send(fast(url, retries=1), lines(), executor=executor)
    assert report.statistics["Push"].source_error >= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".in.log.pumpcore-offset",
        "in.log-locked",
    ]
    server.script("/in", Reply(200))
    report, failures = send(fast(url, batch_size=10), lines(), executor=executor)
    assert failures == []
    assert server.requests_to("/in")[-1].body == b"one\ntwo\nthree\n"  # one batch, all three
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.log-processed"]


@every_executor
def test_events_are_sent_in_batches(server: ScriptedHTTPServer, executor: str) -> None:
    url = server.script("/bulk", Reply(200))
    report, _ = send(fast(url, batch_size=2), [{"n": n} for n in range(5)], executor=executor)
    received = server.requests_to("/bulk")
    assert [r.body for r in received] == [
        b'{"n":0}\n{"n":1}\n',
        b'{"n":2}\n{"n":3}\n',
        b'{"n":4}\n',
    ]
    assert received[0].headers["Content-Type"] == "application/x-ndjson"
    assert report.statistics["Push"].event_out == 5


def test_under_the_hard_policy_an_undelivered_event_stops_the_pipeline(
    server: ScriptedHTTPServer,
) -> None:
    url = server.script("/in", Reply(500))
    report, _ = send(fast(url, retries=0), [1, 2, 3], policy="hard")
    # The failing flush stopped at its first failure. A flush point may come before the
    # last events reach the sink, so the final flush may still send those (at least once).
    bodies = [r.body for r in server.requests_to("/in")]
    assert bodies[0] == b"1"
    assert bodies[1:] in ([], [b"2"], [b"2", b"3"], [b"3"])
    assert "HTTPClientError" in report.errors["Push"]


def test_a_refused_request_is_not_retried(server: ScriptedHTTPServer) -> None:
    url = server.script("/in", Reply(400, b"bad request"))
    report, _ = send(fast(url, retries=3), ["x"])
    assert len(server.requests_to("/in")) == 1
    assert report.statistics["Push"].source_error == 1


def test_method_headers_and_expected_codes(server: ScriptedHTTPServer) -> None:
    url = server.script("/items", Reply(201), Reply(200))
    sink = fast(
        url,
        method="PUT",
        headers={"Authorization": "Bearer t", "Content-Type": "application/x-ndjson"},
        response_code="201",
    )
    report, failures = send(sink, [{"a": 1}, {"a": 2}])
    first, second = server.requests_to("/items")
    assert first.method == "PUT"
    assert first.headers["Authorization"] == "Bearer t"
    assert first.headers["Content-Type"] == "application/x-ndjson"
    assert report.statistics["Push"].source_error == 1
    assert isinstance(failures[0].exception, HTTPClientError)  # a 200 was not expected
    assert second.method == "PUT"


def test_connection_refused_is_counted() -> None:
    sink = fast(refused_url(), retries=1)
    report, failures = send(sink, ["x"])
    assert report.statistics["Push"].source_error == 1
    assert sink.statistics().failed_attempts == 2
    assert "ConnectionError" in str(failures[0].exception)


def test_an_event_json_cannot_hold_is_counted_without_a_request(
    server: ScriptedHTTPServer,
) -> None:
    url = server.script("/in", Reply(200))
    report, _ = send(fast(url), [{1, 2}])
    assert report.statistics["Push"].warning == 1
    assert server.requests_to("/in") == []


def test_sink_configuration_mistakes_are_refused() -> None:
    with pytest.raises(ConfigError, match="'url' is empty"):
        Pipeline("P").build(IteratorSource([]), HTTPClientSink())
    with pytest.raises(ConfigError, match="'response_code' expects"):
        HTTPClientSink(config={"url": "http://127.0.0.1/", "response_code": "2xx"})
    with pytest.raises(ConfigError, match="'batch_size' must be a number from 1 to 1048576, got 0"):
        HTTPClientSink(config={"url": "http://127.0.0.1/", "batch_size": 0})
