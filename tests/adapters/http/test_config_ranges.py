"""Every HTTP adapter refuses out-of-range config at build, naming the key and the value."""

from __future__ import annotations

from typing import Any

import pytest
from pumpcore_http import (
    HTTPClientSink,
    HTTPClientSource,
    HTTPClientWebSocketSink,
    HTTPServerSource,
    WebSocketSource,
)

from .._config_ranges import INF, NAN, assert_defaults_accepted, assert_refused

BAD: list[tuple[Any, str, object]] = [
    (HTTPClientSource, "timeout", NAN),
    (HTTPClientSource, "timeout", INF),
    (HTTPClientSource, "timeout", -1),
    (HTTPClientSource, "fail_chilldown", NAN),
    (HTTPClientSource, "fail_chilldown", -0.5),
    (HTTPClientSource, "retries", 10**9),
    (HTTPClientSource, "method", "GE T"),
    (HTTPClientSource, "on_error", "stop"),
    (HTTPClientSink, "timeout", NAN),
    (HTTPClientSink, "retries", -1),
    (HTTPClientSink, "fail_chilldown", INF),
    (HTTPClientSink, "batch_size", 0),
    (HTTPClientSink, "batch_size", 10**12),
    (HTTPServerSource, "max_body_size", 0),
    (HTTPServerSource, "max_body_size", 10**12),
    (HTTPServerSource, "queue_max_size", 10**12),
    (HTTPServerSource, "ack_timeout", NAN),
    (HTTPServerSource, "idle_timeout", INF),
    (HTTPServerSource, "request_timeout", -1),
    (HTTPServerSource, "retry_after", -1),
    (HTTPServerSource, "decode", "xml"),
    (HTTPServerSource, "path", "events"),
    (HTTPServerSource, "method", "P0ST"),
    (HTTPServerSource, "poll_interval", NAN),
    (HTTPServerSource, "max_connections", 0),
    (HTTPServerSource, "max_buffered_bytes", 10**12),
    (WebSocketSource, "idle_timeout", NAN),
    (WebSocketSource, "max_connections", 10**12),
    (WebSocketSource, "max_message_size", 0),
    (WebSocketSource, "max_message_size", 10**12),
    (WebSocketSource, "max_buffered_bytes", 10**12),
    (WebSocketSource, "handshake_timeout", NAN),
    (WebSocketSource, "path", "ws"),
    (HTTPClientWebSocketSink, "timeout", NAN),
    (HTTPClientWebSocketSink, "timeout", 0),
    (HTTPClientWebSocketSink, "retries", -1),
    (HTTPClientWebSocketSink, "fail_chilldown", NAN),
    (HTTPClientWebSocketSink, "max_chilldown", INF),
]


@pytest.mark.parametrize(("cls", "key", "value"), BAD)
def test_bad_values_are_refused_at_construction(cls: Any, key: str, value: object) -> None:
    assert_refused(cls, key, value)


@pytest.mark.parametrize(
    "cls",
    [
        HTTPClientSource,
        HTTPClientSink,
        HTTPServerSource,
        WebSocketSource,
        HTTPClientWebSocketSink,
    ],
)
def test_defaults_are_accepted(cls: Any) -> None:
    assert_defaults_accepted(cls)
