"""HTTPServerSource (a webhook) under every executor, with a real HTTP client in a worker thread:
200 once committed, keep-alive, refusals (404, 405, 413, 400), 503 while throttled or poisoned,
504 when nothing confirms, 202 without waiting."""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pytest
import trustme
from pumpcore_executors import ExecutorName
from pumpcore_http import HTTPServerSource

from pumpcore import (
    BlockingSink,
    ConfigError,
    Context,
    Failure,
    Pipeline,
    Processor,
    Received,
    RejectedInputError,
)
from pumpcore.common import ListSink
from pumpcore.lowlevel import Held, Rejected, hold

from ._live import every_executor, run_with_client, wait_for_address

pytestmark = pytest.mark.timeout(30)


class Webhook(HTTPServerSource):
    """Ends its input once the test's client is ``done`` and nothing is left, so the run stops
    as soon as the client has its answers instead of after a fixed time."""

    def __init__(self, **config: Any) -> None:
        super().__init__(config={"address": "127.0.0.1 0", **config})
        self.done = threading.Event()

    async def read(self, max_items: int) -> Sequence[Received | Rejected] | None:
        items = await super().read(max_items)
        if not items and self.done.is_set():
            return None
        return items


Answer = tuple[int, dict[str, str], bytes]


def post(
    conn: http.client.HTTPConnection,
    path: str,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
) -> Answer:
    conn.request(method, path, body=body, headers=dict(headers or {}))
    response = conn.getresponse()
    data = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def build(
    source: Webhook, *steps: Any, sink: Any = None, policy: Literal["hard", "soft"] = "hard"
) -> Pipeline:
    pipeline = Pipeline("Hook", error_policy=policy)
    pipeline.build(source, *steps, sink if sink is not None else ListSink(keep_contexts=True))
    return pipeline


@every_executor
def test_https_is_served_and_failed_handshakes_are_counted_and_logged_rate_limited(
    executor: ExecutorName, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca = trustme.CA()
    issued = ca.issue_cert("localhost", "127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    for i, blob in enumerate(issued.cert_chain_pems):
        blob.write_to_path(str(cert), append=i > 0)
    issued.private_key_pem.write_to_path(str(key))
    source = Webhook(path="/hook", cert=str(cert), key=str(key))
    sink = ListSink()
    pipeline = build(source, sink=sink)
    context = ssl.create_default_context()
    ca.configure_trust(context)

    def client() -> list[int]:
        host, port = wait_for_address(source)
        assert source.url == f"https://{host}:{port}/hook"
        for _ in range(25):  # plain HTTP to the HTTPS port: each handshake fails
            with socket.create_connection((host, port)) as plain:
                plain.sendall(b"POST /hook HTTP/1.1\r\nhost: x\r\n\r\n")
                plain.settimeout(5)
                while plain.recv(4096):
                    pass
        conn = http.client.HTTPSConnection("localhost", port, timeout=10, context=context)
        try:
            return [post(conn, "/hook", body)[0] for body in (b"a", b"b")]
        finally:
            conn.close()

    with caplog.at_level(logging.WARNING, logger="pumpcore.http"):
        report, statuses = run_with_client([pipeline], executor, client, when_done=source.done.set)
    assert statuses == [200, 200]
    assert sink.Events == [b"a", b"b"]
    assert source.statistics().handshake_failures == 25
    lines = [r.getMessage() for r in caplog.records if r.name == "pumpcore.http"]
    assert sum(": TLS handshake failed: " in line for line in lines) == 10
    assert any("15 more TLS handshake failed" in line for line in lines)
    assert report.errors == {}


@every_executor
def test_one_client_posting_in_turn_is_answered_at_the_pace_of_its_commits(
    executor: ExecutorName,
) -> None:
    # A request waits for its commit. Under the sync executor a read of the next request used
    # to hold the thread that commits, for ~100 ms a request; now every executor takes ~1 ms
    # (a generous bound: 100 requests in 4 s fails only the old behaviour, 10 s).
    source = Webhook(path="/hook")
    pipeline = build(source)

    def client() -> float:
        host, port = wait_for_address(source)
        conn = http.client.HTTPConnection(host, port, timeout=10)
        try:
            assert post(conn, "/hook", b"warm-up")[0] == 200
            started = time.monotonic()
            for i in range(100):
                assert post(conn, "/hook", str(i).encode())[0] == 200
            return time.monotonic() - started
        finally:
            conn.close()

    report, took = run_with_client([pipeline], executor, client, when_done=source.done.set)
    assert took < 4.0
    assert report.statistics["Hook"].event_out == 101


@every_executor
def test_each_post_is_answered_200_once_committed_on_one_kept_alive_connection(
    executor: ExecutorName,
) -> None:
    source = Webhook(path="/hook")
    sink = ListSink(keep_contexts=True)
    pipeline = build(source, sink=sink)

    def client() -> list[int]:
        host, port = wait_for_address(source)
        conn = http.client.HTTPConnection(host, port, timeout=10)
        statuses = []
        try:
            statuses.append(post(conn, "/hook?x=1", b"a", {"X-Test": "yes"})[0])
            sock = conn.sock
            statuses.append(post(conn, "/hook", b"b")[0])
            not_found = post(conn, "/other", b"ignored")
            statuses.append(not_found[0])
            wrong_method = post(conn, "/hook", b"", method="GET")
            statuses.append(wrong_method[0])
            assert wrong_method[1]["allow"] == "POST"
            head = post(conn, "/hook", b"", method="HEAD")
            statuses.append(head[0])
            assert head[2] == b""  # a HEAD answer has no body, its headers say how long
            statuses.append(post(conn, "/hook", b"c")[0])
            assert conn.sock is sock  # every answer kept the connection alive
        finally:
            conn.close()
        return statuses

    report, statuses = run_with_client([pipeline], executor, client, when_done=source.done.set)
    assert statuses == [200, 200, 404, 405, 405, 200]
    assert sink.Events == [b"a", b"b", b"c"]
    first = sink.Contexts[0]
    assert (first["method"], first["path"], first["query"]) == ("POST", "/hook", {"x": ["1"]})
    assert first["headers"]["x-test"] == "yes"
    assert first["peer"][0] == "127.0.0.1"
    stats = source.statistics()
    assert stats.connections == 1
    assert (stats.requests, stats.events) == (6, 3)
    assert dict(stats.statuses) == {200: 3, 404: 1, 405: 2}
    assert report.errors == {}
    assert report.statistics["Hook"].event_out == 3


@every_executor
def test_oversized_and_malformed_requests_are_refused_and_the_server_goes_on(
    executor: ExecutorName,
) -> None:
    source = Webhook(max_body_size=100)
    sink = ListSink()
    pipeline = build(source, sink=sink)

    def raw(host: str, port: int, data: bytes) -> bytes:
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(data)
            received = b""
            while chunk := sock.recv(65536):  # the server closes after a 400 or 413
                received += chunk
            return received

    def client() -> list[Any]:
        host, port = wait_for_address(source)
        seen: list[Any] = []
        conn = http.client.HTTPConnection(host, port, timeout=10)
        try:
            status, headers, _ = post(conn, "/", b"x" * 1000)
            seen.append((status, headers.get("connection")))
        finally:
            conn.close()
        chunked = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunked += b"40\r\n" + b"y" * 64 + b"\r\n" + b"40\r\n" + b"y" * 64 + b"\r\n0\r\n\r\n"
        seen.append(raw(host, port, chunked).split(b"\r\n")[0])
        seen.append(raw(host, port, b"NONSENSE\r\n\r\n").split(b"\r\n")[0])
        bad_length = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n"
        seen.append(raw(host, port, bad_length)[:12])
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n")
            sock.sendall(b"Expect: 100-continue\r\n\r\n")
            seen.append(sock.recv(65536).split(b"\r\n")[0])
            sock.sendall(b"more")
            answer = b""
            while not answer.endswith(b"done\n"):
                answer += sock.recv(65536)
            seen.append(answer.split(b"\r\n")[0])
        conn = http.client.HTTPConnection(host, port, timeout=10)
        try:
            seen.append(post(conn, "/", b"fine")[0])
        finally:
            conn.close()
        return seen

    report, seen = run_with_client([pipeline], executor, client, when_done=source.done.set)
    assert seen == [
        (413, "close"),
        b"HTTP/1.1 413 Request Entity Too Large",
        b"HTTP/1.1 400 Bad Request",
        b"HTTP/1.1 400",
        b"HTTP/1.1 100 Continue",
        b"HTTP/1.1 200 OK",
        200,
    ]
    assert sink.Events == [b"more", b"fine"]
    stats = source.statistics()
    assert dict(stats.statuses) == {413: 2, 400: 2, 200: 2}
    assert stats.errors == 0
    assert report.errors == {}


def check_amount(context: Context, event: Any) -> Any:
    """Refuses negative amounts, with a long message when asked to."""
    if event["n"] < 0:
        raise ValueError("negative amount " + "!" * 1000 * (event["n"] == -2))
    return event


@every_executor
def test_bad_input_is_answered_400_or_422_with_a_reason_and_the_server_stays_up(
    executor: ExecutorName,
) -> None:
    source = Webhook(decode="json")
    sink, dead = ListSink(), ListSink()
    pipeline = build(source, check_amount, sink=sink)  # the hard policy
    pipeline.set_dead_letter(dead)

    def client() -> list[tuple[int, bytes]]:
        host, port = wait_for_address(source)
        conn = http.client.HTTPConnection(host, port, timeout=10)
        try:
            return [
                (status, body)
                for payload in (b'{"n": 1}', b"{not json", b'{"n": -1}', b'{"n": -2}', b'{"n": 2}')
                for status, _, body in [post(conn, "/", payload)]
            ]
        finally:
            conn.close()

    report, answers = run_with_client([pipeline], executor, client, when_done=source.done.set)
    assert [status for status, _ in answers] == [200, 400, 422, 422, 200]
    assert answers[1][1].startswith(b"the body is not JSON: ")
    assert answers[2][1] == b"rejected by check_amount: ValueError: negative amount\n"
    assert answers[3][1].startswith(b"rejected by check_amount: ValueError: negative amount !!!")
    assert len(answers[3][1].decode()) == 201  # shortened: 200 characters and a newline
    assert sink.Events == [{"n": 1}, {"n": 2}]  # the next valid request is still written
    assert report.errors == {}
    stats = report.statistics["Hook"]
    assert (stats.event_in, stats.event_out, stats.warning, stats.error) == (4, 2, 2, 0)
    assert (stats.rejected, stats.dead_letter) == (1, 3)
    failures: list[Failure] = dead.Events
    assert [(f.component_id, f.event) for f in failures] == [
        ("Webhook", b"{not json"),
        ("check_amount", {"n": -1}),
        ("check_amount", {"n": -2}),
    ]
    assert isinstance(failures[0].exception, RejectedInputError)
    ids = [f.context["request_id"] for f in failures]
    assert ids == sorted(set(ids))  # distinct, in the order the requests came
    assert dict(source.statistics().statuses) == {200: 2, 400: 1, 422: 2}


@every_executor
def test_text_bodies_are_decoded_by_their_charset_and_refused_400_when_they_do_not_decode(
    executor: ExecutorName,
) -> None:
    source = Webhook(decode="text", wait_for_commit=False)
    sink = ListSink()
    pipeline = build(source, sink=sink)

    def client() -> list[tuple[int, bytes]]:
        host, port = wait_for_address(source)
        conn = http.client.HTTPConnection(host, port, timeout=10)
        latin = {"Content-Type": "text/plain; charset=ISO-8859-1"}
        try:
            answers = [
                post(conn, "/", "ünï".encode()),
                post(conn, "/", "ünï".encode("latin-1"), latin),
                post(conn, "/", b"\xff\xfe"),
                post(conn, "/", b"x", {"Content-Type": "text/plain; charset=klingon"}),
            ]
            return [(status, body) for status, _, body in answers]
        finally:
            conn.close()

    report, answers = run_with_client([pipeline], executor, client, when_done=source.done.set)
    assert [status for status, _ in answers] == [202, 202, 400, 400]
    assert answers[2][1].startswith(b"the body is not utf-8: ")
    assert answers[3][1] == b"unknown charset 'klingon'\n"
    assert sink.Events == ["ünï", "ünï"]
    assert report.statistics["Hook"].rejected == 2
    assert report.errors == {}


class PauseOnCommand(Processor):
    """Throttles its pipeline on the event ``b"pause"`` for ``hold`` seconds of pipeline time, as
    a busy downstream would."""

    def __init__(self, hold: float) -> None:
        super().__init__()
        self.hold = hold
        self.until: float | None = None

    def process(self, context: Context, event: Any) -> Any:
        if event == b"pause":
            assert self.Pipeline is not None
            self.until = self.Pipeline.time() + self.hold
            self.Pipeline.throttle(self, True)
        return event

    def next_awake(self) -> float | None:
        return self.until

    def on_tick(self, now: float) -> list[tuple[Context, Any]]:
        if self.until is not None and now >= self.until:
            self.until = None
            assert self.Pipeline is not None
            self.Pipeline.throttle(self, False)
        return []


@every_executor
def test_a_throttled_pipeline_is_answered_503_with_retry_after_until_released(
    executor: ExecutorName,
) -> None:
    source = Webhook(retry_after=2)
    sink = ListSink()
    pipeline = build(source, PauseOnCommand(hold=0.3), sink=sink)

    def client() -> list[Any]:
        host, port = wait_for_address(source)
        conn = http.client.HTTPConnection(host, port, timeout=10)
        seen: list[Any] = []
        try:
            seen.append(post(conn, "/", b"pause")[0])
            status, headers, _ = post(conn, "/", b"refused")
            seen.append((status, headers.get("retry-after")))
            deadline = time.monotonic() + 10
            while (status := post(conn, "/", b"after")[0]) == 503:
                assert time.monotonic() < deadline, "never released"
                time.sleep(0.05)
            seen.append(status)
        finally:
            conn.close()
        return seen

    report, seen = run_with_client([pipeline], executor, client, when_done=source.done.set)
    assert seen == [200, (503, "2"), 200]
    assert sink.Events == [b"pause", b"after"]
    assert report.errors == {}


class UnwritableSink(BlockingSink):
    """Takes events, but no flush ever makes them durable."""

    def __init__(self) -> None:
        super().__init__()
        self.Events: list[Any] = []

    def process(self, context: Context, event: Any) -> None:
        self.Events.append(event)

    def flush(self) -> None:
        raise OSError("disk full")


@every_executor
def test_an_event_never_made_durable_is_answered_504_and_then_503_until_restart(
    executor: ExecutorName,
) -> None:
    source = Webhook(ack_timeout=0.3)
    sink = UnwritableSink()
    pipeline = build(source, sink=sink, policy="soft")  # the pipeline goes on; acks do not

    def client() -> list[int]:
        host, port = wait_for_address(source)
        conn = http.client.HTTPConnection(host, port, timeout=10)
        try:
            return [post(conn, "/", b"lost?")[0], post(conn, "/", b"next")[0]]
        finally:
            conn.close()

    _, statuses = run_with_client([pipeline], executor, client, when_done=source.done.set)
    assert statuses == [504, 503]  # the client knows to send both again
    assert sink.Events == [b"lost?"]
    assert source.poisoned


class HoldUntilStop(Processor):
    """Keeps every event until the pipeline stops (an open aggregate): no commit point comes.
    Calls ``on_event`` for each, so the test can end the run while the request waits."""

    def __init__(self, on_event: Callable[[], None]) -> None:
        super().__init__()
        self.held: list[Held] = []
        self.on_event = on_event

    def process(self, context: Context, event: Any) -> Any:
        self.held.append(Held(context, event, hold()))
        self.on_event()
        return None

    def on_stop(self, now: float) -> list[Held]:
        held, self.held = self.held, []
        return held


@every_executor
def test_a_request_still_waiting_at_stop_is_answered_not_left_hanging(
    executor: ExecutorName,
) -> None:
    source = Webhook()
    sink = ListSink()
    pipeline = build(source, HoldUntilStop(on_event=source.done.set), sink=sink)

    def client() -> int:
        host, port = wait_for_address(source)
        conn = http.client.HTTPConnection(host, port, timeout=10)
        try:
            return post(conn, "/", b"held")[0]
        finally:
            conn.close()

    report, status = run_with_client([pipeline], executor, client)  # the input ends: a stop
    # Every executor commits (the held event reached the sink) before it cancels the server.
    assert status == 200
    assert sink.Events == [b"held"]
    assert report.errors == {}


@every_executor
def test_without_waiting_for_commit_a_queued_event_is_answered_202(
    executor: ExecutorName,
) -> None:
    source = Webhook(wait_for_commit=False)
    sink = ListSink()
    pipeline = build(source, sink=sink)

    def client() -> list[int]:
        host, port = wait_for_address(source)
        conn = http.client.HTTPConnection(host, port, timeout=10)
        try:
            return [post(conn, "/", f"{i}".encode())[0] for i in range(5)]
        finally:
            conn.close()

    report, statuses = run_with_client([pipeline], executor, client, when_done=source.done.set)
    assert statuses == [202] * 5
    assert sink.Events == [b"0", b"1", b"2", b"3", b"4"]
    assert report.errors == {}


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"address": "localhost port"}, "address"),
        ({"address": "127.0.0.1 70000"}, "address"),
        ({"path": "hook"}, "path"),
        ({"max_body_size": 0}, "max_body_size"),
        ({"queue_max_size": 0}, "queue_max_size"),
        ({"decode": "xml"}, "decode"),
    ],
)
def test_bad_configuration_is_refused_at_build_time(config: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        HTTPServerSource(config=config)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("0.0.0.0 8080", ("0.0.0.0", 8080)),
        ("0.0.0.0:8080", ("0.0.0.0", 8080)),
        ("[::1]:8080", ("::1", 8080)),
        ("* 80", (None, 80)),
        ("8080", (None, 8080)),
    ],
)
def test_address_takes_bspump_forms(address: str, expected: tuple[str | None, int]) -> None:
    assert HTTPServerSource(config={"address": address}).Listen == expected


@pytest.mark.timeout(30)
def test_a_port_in_use_fails_the_run_at_start_naming_the_address() -> None:
    import pumpcore_executors

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        pipeline = Pipeline("Hook")
        pipeline.build(HTTPServerSource(config={"address": f"127.0.0.1 {port}"}), ListSink())
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1 {port}"):
            pumpcore_executors.run(pipeline, stop_after=5, handle_signals=False)
