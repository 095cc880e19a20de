"""HTTPClientSource against a real HTTP server: the Coindesk tutorial, retries, timeouts."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName
from pumpcore_http import HTTPClientError, HTTPClientSource

from pumpcore import ConfigError, Context, Failure, Pipeline, Processor, Settings
from pumpcore.common import ListSink, StdJsonToDictParser
from pumpcore.testing import VirtualClock
from pumpcore.trigger import PeriodicTrigger, RunOnceTrigger

from ...executors.conftest import run_kwargs
from ._live import every_executor
from ._server import Reply, ScriptedHTTPServer, refused_url

COINDESK = json.dumps(
    {
        "time": {"updated": "Jan 31, 2022 15:47:00 UTC"},
        "chartName": "Bitcoin",
        "bpi": {
            "USD": {"code": "USD", "symbol": "$", "rate": "37,789.6250", "rate_float": 37789.625},
            "EUR": {"code": "EUR", "symbol": "€", "rate": "33,772.9280", "rate_float": 33772.928},
        },
    }
).encode()


class EnrichProcessor(Processor):
    """The tutorial's processor: adds the price in Japanese yen."""

    def convertUSDtoJPY(self, usd: float) -> float:  # the tutorial's name
        return usd * 113.70

    def process(self, context: Context, event: Any) -> Any:
        jpy = str(self.convertUSDtoJPY(event["bpi"]["USD"]["rate_float"]))
        event["bpi"]["JPY"] = {
            "code": "JPY",
            "symbol": "¥",
            "rate": "".join((jpy[:3], ",", jpy[3:])),
            "description": "JPY",
            "rate_float": jpy,
        }
        return event


def pipeline(
    source: HTTPClientSource, *steps: Any, policy: Any = "soft", trigger: Any = None
) -> tuple[Pipeline, ListSink, list[Failure]]:
    sink = ListSink(keep_contexts=True)
    p = Pipeline("Poll", error_policy=policy)
    p.build(source.on(trigger or RunOnceTrigger()), *steps, sink)
    failures: list[Failure] = []
    p.add_failure_listener(failures.append)
    return p, sink, failures


def fast(url: str, **config: Any) -> HTTPClientSource:
    """A source with a short chill-down and timeout, so failing tests stay fast."""
    return HTTPClientSource(config={"url": url, "fail_chilldown": 0.01, "timeout": 5, **config})


@pytest.mark.timeout(30)
def test_coindesk_tutorial_polls_six_times_in_thirty_seconds(server: ScriptedHTTPServer) -> None:
    url = server.script("/v1/bpi/currentprice.json", Reply(200, COINDESK))
    source = HTTPClientSource(config={"url": url})
    p, sink, _ = pipeline(
        source, StdJsonToDictParser(), EnrichProcessor(), trigger=PeriodicTrigger(5)
    )
    report = pumpcore_executors.run(p, clock=VirtualClock(start=1000.0), stop_after=30)
    assert len(server.requests_to("/v1/bpi/currentprice.json")) == 6
    assert len(sink.Events) == 6
    jpy = sink.Events[0]["bpi"]["JPY"]
    assert jpy["code"] == "JPY"
    assert float(jpy["rate_float"]) == pytest.approx(37789.625 * 113.70)
    assert report.statistics["Poll"].event_out == 6
    assert report.errors == {}
    assert sink.Contexts[0]["status"] == 200
    assert sink.Contexts[0]["method"] == "GET"
    assert sink.Contexts[0]["url"] == url


@pytest.mark.timeout(30)
def test_the_event_is_the_response_body_as_bytes(server: ScriptedHTTPServer) -> None:
    url = server.script("/raw", Reply(200, b"\x00binary\xff", {"X-Served-By": "test"}))
    p, sink, _ = pipeline(fast(url))
    pumpcore_executors.run(p, clock=VirtualClock())
    assert sink.Events == [b"\x00binary\xff"]
    assert sink.Contexts[0]["response_headers"]["X-Served-By"] == "test"
    assert sink.Contexts[0]["attempts"] == 1


@pytest.mark.timeout(30)
def test_server_errors_are_retried_then_the_answer_is_emitted(server: ScriptedHTTPServer) -> None:
    url = server.script("/flaky", Reply(500), Reply(503), Reply(200, b"finally"))
    source = fast(url, retries=2)
    p, sink, failures = pipeline(source)
    report = pumpcore_executors.run(p, clock=VirtualClock())
    assert sink.Events == [b"finally"]
    assert sink.Contexts[0]["attempts"] == 3
    assert len(server.requests_to("/flaky")) == 3
    stats = source.statistics()
    assert (stats.requests, stats.failed_attempts, stats.failures) == (3, 2, 0)
    assert report.statistics["Poll"].source_error == 0
    assert failures == []


@pytest.mark.timeout(30)
def test_when_retries_run_out_the_cycle_fails_and_the_soft_policy_polls_on(
    server: ScriptedHTTPServer,
) -> None:
    url = server.script("/down", Reply(500, b"oops"))
    source = fast(url, retries=1)
    p, sink, failures = pipeline(source, trigger=PeriodicTrigger(5))
    report = pumpcore_executors.run(p, clock=VirtualClock(), stop_after=10)
    assert sink.Events == []
    assert len(server.requests_to("/down")) == 4  # two cycles of two attempts
    assert report.statistics["Poll"].source_error == 2
    assert report.errors == {}
    error = failures[0].exception
    assert isinstance(error, HTTPClientError)
    assert (error.status, error.attempts, error.url) == (500, 2, url)
    assert "status 500" in str(error)
    assert source.statistics().failures == 2


@every_executor
@pytest.mark.timeout(30)
def test_under_the_hard_policy_a_refused_poll_is_that_polls_failure_and_polling_resumes(
    server: ScriptedHTTPServer, executor: ExecutorName
) -> None:
    url = server.script("/flaky", Reply(503), Reply(502), Reply(200, b"back"))
    source = fast(url, retries=0)
    p, sink, failures = pipeline(source, policy="hard", trigger=PeriodicTrigger(5))
    report = pumpcore_executors.run(
        p, executor=executor, clock=VirtualClock(), stop_after=12, **run_kwargs(executor)
    )
    assert len(server.requests_to("/flaky")) == 3  # at 0, 5 and 10 s
    assert sink.Events == [b"back"]
    assert report.errors == {}
    assert report.statistics["Poll"].source_error == 2
    assert [(f.component_id, f.soft) for f in failures] == [("HTTPClientSource", True)] * 2


@every_executor
@pytest.mark.timeout(30)
def test_under_the_hard_policy_a_refusing_server_does_not_stop_the_pipeline(
    executor: ExecutorName,
) -> None:
    source = fast(refused_url(), retries=1)
    p, _, failures = pipeline(source, policy="hard", trigger=PeriodicTrigger(5))
    report = pumpcore_executors.run(
        p, executor=executor, clock=VirtualClock(), stop_after=12, **run_kwargs(executor)
    )
    assert report.errors == {}
    assert report.statistics["Poll"].source_error == 3
    assert source.statistics().failed_attempts == 6
    assert all(isinstance(f.exception, HTTPClientError) and f.soft for f in failures)


@pytest.mark.timeout(30)
def test_a_run_of_failed_polls_is_logged_once_and_the_recovery_once(
    server: ScriptedHTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.script("/flaky", Reply(503), Reply(503), Reply(503), Reply(200, b"back"))
    p, sink, _ = pipeline(fast(url, retries=1), trigger=PeriodicTrigger(5))
    with caplog.at_level(logging.DEBUG, logger="pumpcore.http"):
        pumpcore_executors.run(p, clock=VirtualClock(), stop_after=7)
    assert sink.Events == [b"back"]
    own = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "pumpcore.http"]
    warnings = [message for level, message in own if level == logging.WARNING]
    assert len(warnings) == 2  # the first poll's retry, and that poll's failure
    assert "retry 1/1" in warnings[0]
    assert "poll failed, polling on" in warnings[1]
    assert [m for level, m in own if level == logging.INFO] == [
        f"Poll.HTTPClientSource: {url} answers again after 1 failed polls"
    ]


@pytest.mark.timeout(30)
def test_with_on_error_policy_the_hard_policy_stops_the_pipeline_on_a_failed_poll(
    server: ScriptedHTTPServer,
) -> None:
    url = server.script("/down", Reply(502))
    source = fast(url, retries=0, on_error="policy")
    p, _, _ = pipeline(source, policy="hard", trigger=PeriodicTrigger(5))
    report = pumpcore_executors.run(p, clock=VirtualClock(), stop_after=30)
    assert len(server.requests_to("/down")) == 1
    assert "HTTPClientError" in report.errors["Poll"]


@pytest.mark.timeout(30)
def test_a_client_error_is_not_retried(server: ScriptedHTTPServer) -> None:
    url = server.url("/missing")  # the server answers 404
    p, _, failures = pipeline(fast(url, retries=5))
    report = pumpcore_executors.run(p, clock=VirtualClock())
    assert len(server.requests_to("/missing")) == 1
    assert report.statistics["Poll"].source_error == 1
    error = failures[0].exception
    assert isinstance(error, HTTPClientError)
    assert error.status == 404


@pytest.mark.timeout(30)
def test_a_slow_server_times_out_and_the_retry_succeeds(server: ScriptedHTTPServer) -> None:
    url = server.script("/slow", Reply(200, b"late", delay=5.0), Reply(200, b"on time"))
    source = fast(url, timeout=0.2, retries=1)
    p, sink, _ = pipeline(source)
    started = time.monotonic()
    report = pumpcore_executors.run(p, clock=VirtualClock())
    assert time.monotonic() - started < 3.0  # the 5 s answer was not waited for
    assert sink.Events == [b"on time"]
    assert sink.Contexts[0]["attempts"] == 2
    assert report.statistics["Poll"].source_error == 0


@pytest.mark.timeout(30)
def test_timeouts_on_every_attempt_fail_the_cycle(server: ScriptedHTTPServer) -> None:
    url = server.script("/stuck", Reply(200, b"never", delay=5.0))
    source = fast(url, timeout=0.2, retries=1)
    p, sink, failures = pipeline(source)
    started = time.monotonic()
    report = pumpcore_executors.run(p, clock=VirtualClock())
    assert time.monotonic() - started < 3.0
    assert sink.Events == []
    assert report.statistics["Poll"].source_error == 1
    assert "Timeout" in str(failures[0].exception)
    assert source.statistics().failed_attempts == 2


@pytest.mark.timeout(30)
def test_connection_refused_is_retried_then_reported() -> None:
    source = fast(refused_url(), retries=2)
    p, _, failures = pipeline(source)
    report = pumpcore_executors.run(p, clock=VirtualClock())
    assert report.statistics["Poll"].source_error == 1
    assert source.statistics().failed_attempts == 3
    error = failures[0].exception
    assert isinstance(error, HTTPClientError)
    assert error.status is None
    assert "ConnectionError" in str(error)


@pytest.mark.timeout(30)
def test_invalid_json_is_the_parsers_error_and_the_pipeline_stays_up(
    server: ScriptedHTTPServer,
) -> None:
    url = server.script(
        "/feed", Reply(200, b'{"n": 1}'), Reply(200, b"<html>oops</html>"), Reply(200, b'{"n": 3}')
    )
    p, sink, failures = pipeline(fast(url), StdJsonToDictParser(), trigger=PeriodicTrigger(1))
    report = pumpcore_executors.run(p, clock=VirtualClock(), stop_after=3)
    assert sink.Events == [{"n": 1}, {"n": 3}]
    stats = report.statistics["Poll"]
    assert (stats.warning, stats.source_error, stats.event_out) == (1, 0, 2)
    assert failures[0].component_id == "StdJsonToDictParser"
    assert failures[0].event == b"<html>oops</html>"


@pytest.mark.timeout(30)
def test_method_headers_params_and_accepted_codes(server: ScriptedHTTPServer) -> None:
    url = server.script("/api", Reply(203, b"ok"))
    source = HTTPClientSource(
        config={
            "url": url,
            "method": "post",
            "headers": '{"TRN-Api-Key": "from-config", "X-Both": "config"}',
            "params": {"city": "Brno", "units": "metric"},
            "response_code": "200, 203",
        },
        headers={"X-Both": "argument"},
    )
    p, sink, _ = pipeline(source)
    pumpcore_executors.run(p, clock=VirtualClock())
    assert sink.Events == [b"ok"]
    (request,) = server.requests_to("/api")
    assert request.method == "POST"
    assert request.headers["TRN-Api-Key"] == "from-config"
    assert request.headers["X-Both"] == "argument"
    assert request.query == {"city": ["Brno"], "units": ["metric"]}


@pytest.mark.timeout(30)
def test_configuration_from_a_config_file_section(server: ScriptedHTTPServer) -> None:
    url = server.script("/conf", Reply(200, b"configured"))
    settings = Settings.from_ini(
        f'[pipeline:Poll:HTTPClientSource]\nurl = {url}\nheaders = {{"X-Key": "ini"}}\n'
        "retries = 0\n"
    )
    sink = ListSink()
    p = Pipeline("Poll", settings=settings)
    p.build(HTTPClientSource().on(RunOnceTrigger()), sink)
    pumpcore_executors.run(p, clock=VirtualClock())
    assert sink.Events == [b"configured"]
    assert server.requests_to("/conf")[0].headers["X-Key"] == "ini"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"response_code": "OK"}, "'response_code' expects status codes"),
        ({"response_code": "200, 999"}, "'response_code' expects status codes"),
        ({"headers": "{not json"}, "'headers' expects a JSON object"),
        ({"headers": "[1, 2]"}, "'headers' expects a mapping"),
        ({"method": "GE T"}, "'method' must be an HTTP method such as 'GET', got 'GE T'"),
        ({"timeout": 0}, "'timeout' must be a finite number > 0, got 0.0"),
        ({"retries": -1}, "'retries' must be a number from 0 to 1000, got -1"),
        ({"on_error": "stop"}, "'on_error' must be one of 'continue', 'policy', got 'stop'"),
    ],
)
def test_configuration_mistakes_are_refused_when_built(
    config: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        HTTPClientSource(config={"url": "http://127.0.0.1/", **config})


def test_malformed_headers_are_not_echoed() -> None:
    # "headers" is not a secret key, but the text holds one: only the JSON error is shown.
    with pytest.raises(ConfigError, match=r"'headers' expects a JSON object.*line 1") as info:
        HTTPClientSource(
            config={"url": "http://127.0.0.1/", "headers": '{"Authorization": "Bearer hunter2"'}
        )
    assert "hunter2" not in str(info.value)


def test_a_missing_url_is_refused_when_joining_a_pipeline() -> None:
    with pytest.raises(ConfigError, match="'url' is empty"):
        Pipeline("P").build(HTTPClientSource().on(RunOnceTrigger()), ListSink())


@pytest.mark.timeout(30)
def test_errors_and_logs_do_not_show_secrets_from_the_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    base = refused_url().replace("http://", "http://user:pw@")
    source = fast(base + "weather?q=London&appid=SECRET123", retries=1)
    p, _, failures = pipeline(source)
    pumpcore_executors.run(p, clock=VirtualClock())
    message = str(failures[0].exception)
    assert "ConnectionError" in message
    assert "SECRET123" not in message
    assert "pw" not in message
    assert "/weather?…" in message
    assert caplog.records
    assert all("SECRET123" not in r.getMessage() for r in caplog.records)
