"""HTTPClientSink against a real HTTP server: bodies, retries, failures never dropped silently."""

from __future__ import annotations

import json
from typing import Any

import pumpcore_executors
import pytest
from pumpcore_http import HTTPClientError, HTTPClientSink

from pumpcore import ConfigError, Failure, Pipeline
from pumpcore.common import IteratorSource

from ._server import Reply, ScriptedHTTPServer, refused_url


def send(
    sink: HTTPClientSink, events: list[Any], policy: Any = "soft"
) -> tuple[pumpcore_executors.RunReport, list[Failure]]:
    p = Pipeline("Push", error_policy=policy)
    p.build(IteratorSource(events), sink)
    failures: list[Failure] = []
    p.add_failure_listener(failures.append)
    return pumpcore_executors.run(p), failures


def fast(url: str, **config: Any) -> HTTPClientSink:
    return HTTPClientSink(config={"url": url, "fail_chilldown": 0.01, "timeout": 5, **config})


@pytest.mark.timeout(30)
def test_each_event_is_posted_in_order_with_its_content_type(server: ScriptedHTTPServer) -> None:
    url = server.script("/in", Reply(204))
    report, _ = send(fast(url), [{"price": 1.5}, "text ü", b"\x00raw", [1, 2]])
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


@pytest.mark.timeout(30)
def test_server_errors_are_retried(server: ScriptedHTTPServer) -> None:
    url = server.script("/in", Reply(503), Reply(200))
    sink = fast(url, retries=1)
    report, failures = send(sink, [{"n": 1}])
    assert len(server.requests_to("/in")) == 2
    assert report.statistics["Push"].event_out == 1
    assert failures == []
    assert sink.statistics().failed_attempts == 1


@pytest.mark.timeout(30)
def test_an_event_that_cannot_be_delivered_goes_to_the_error_policy(
    server: ScriptedHTTPServer,
) -> None:
    url = server.script("/in", Reply(200), Reply(500), Reply(500), Reply(200))
    sink = fast(url, retries=1)
    report, failures = send(sink, [{"n": 1}, {"n": 2}, {"n": 3}])
    stats = report.statistics["Push"]
    assert (stats.event_out, stats.warning) == (2, 1)
    assert failures[0].event == {"n": 2}
    assert isinstance(failures[0].exception, HTTPClientError)
    assert failures[0].exception.status == 500
    assert [json.loads(r.body)["n"] for r in server.requests_to("/in")] == [1, 2, 2, 3]


@pytest.mark.timeout(30)
def test_under_the_hard_policy_an_undelivered_event_stops_the_pipeline(
    server: ScriptedHTTPServer,
) -> None:
    url = server.script("/in", Reply(500))
    report, _ = send(fast(url, retries=0), [1, 2, 3], policy="hard")
    assert len(server.requests_to("/in")) == 1
    assert "HTTPClientError" in report.errors["Push"]


@pytest.mark.timeout(30)
def test_a_refused_request_is_not_retried(server: ScriptedHTTPServer) -> None:
    url = server.script("/in", Reply(400, b"bad request"))
    report, _ = send(fast(url, retries=3), ["x"])
    assert len(server.requests_to("/in")) == 1
    assert report.statistics["Push"].warning == 1


@pytest.mark.timeout(30)
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
    assert report.statistics["Push"].event_out == 1
    assert isinstance(failures[0].exception, HTTPClientError)  # a 200 was not expected
    assert second.method == "PUT"


@pytest.mark.timeout(30)
def test_connection_refused_is_counted() -> None:
    sink = fast(refused_url(), retries=1)
    report, failures = send(sink, ["x"])
    assert report.statistics["Push"].warning == 1
    assert sink.statistics().failed_attempts == 2
    assert "ConnectionError" in str(failures[0].exception)


@pytest.mark.timeout(30)
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
