"""Every socket adapter refuses out-of-range config at build, naming the key and the value."""

from __future__ import annotations

from typing import Any

import pytest
from pumpcore_socket import (
    DatagramSink,
    DatagramSource,
    StreamClientSink,
    StreamServerSource,
    TCPSource,
)

from .._config_ranges import INF, NAN, assert_defaults_accepted, assert_refused

BAD: list[tuple[Any, str, object]] = [
    (DatagramSource, "max_packet_size", 0),
    (DatagramSource, "max_packet_size", -1),
    (DatagramSource, "max_packet_size", 10**12),
    (DatagramSource, "receive_buffer_size", -1),
    (DatagramSource, "receive_buffer_size", 10**12),
    (DatagramSource, "encoding", "rot13"),
    (DatagramSource, "encoding", "base64"),
    (DatagramSource, "encoding", "nope"),
    (DatagramSource, "poll_interval", NAN),
    (DatagramSource, "read_size", 0),
    (DatagramSource, "queue_max_size", 0),
    (DatagramSource, "queue_max_size", 10**12),
    (DatagramSink, "max_packet_size", 10**12),
    (DatagramSink, "max_packet_size", 0),
    (DatagramSink, "retries", -1),
    (DatagramSink, "retry_delay", NAN),
    (DatagramSink, "retry_delay", -1),
    (DatagramSink, "retry_delay_max", INF),
    (DatagramSink, "encoding", "hex"),
    (StreamClientSink, "connect_timeout", NAN),
    (StreamClientSink, "connect_timeout", 0),
    (StreamClientSink, "connect_timeout", INF),
    (StreamClientSink, "retries", 10**12),
    (StreamClientSink, "encoding", "zlib"),
    (StreamServerSource, "max_line_length", 0),
    (StreamServerSource, "max_line_length", 10**12),
    (StreamServerSource, "backlog", 0),
    (StreamServerSource, "backlog", 10**9),
    (StreamServerSource, "handshake_timeout", NAN),
    (StreamServerSource, "handshake_timeout", -1),
    (StreamServerSource, "encoding", "rot13"),
    (StreamServerSource, "retry_delay", -1),
    (StreamServerSource, "max_connections", 0),
    (StreamServerSource, "max_connections", 10**12),
    (StreamServerSource, "idle_timeout", 0),
    (StreamServerSource, "idle_timeout", INF),
    (StreamServerSource, "max_buffered_bytes", 0),
    (StreamServerSource, "max_buffered_bytes", 10**12),
    (DatagramSource, "max_buffered_bytes", 0),
    (TCPSource, "port", -1),
    (TCPSource, "port", 70000),
]


@pytest.mark.parametrize(("cls", "key", "value"), BAD)
def test_bad_values_are_refused_at_construction(cls: Any, key: str, value: object) -> None:
    assert_refused(cls, key, value)


@pytest.mark.parametrize(
    "cls", [DatagramSource, DatagramSink, StreamClientSink, StreamServerSource, TCPSource]
)
def test_defaults_are_accepted(cls: Any) -> None:
    assert_defaults_accepted(cls)
