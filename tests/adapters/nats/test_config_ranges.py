"""The NATS adapter refuses out-of-range config at build, naming the key and the value."""

from __future__ import annotations

from typing import Any

import pytest
from pumpcore_nats import NATSConnection, NATSSink, NATSSource

from pumpcore import ConfigError, Pipeline

from .._config_ranges import INF, NAN, assert_defaults_accepted, assert_refused

BAD: list[tuple[Any, str, object]] = [
    (NATSConnection, "connect_timeout", 0),
    (NATSConnection, "connect_timeout", NAN),
    (NATSConnection, "reconnect_time_wait", -1),
    (NATSConnection, "pending_size", 10),
    (NATSSource, "ack_wait", 0),
    (NATSSource, "ack_wait", INF),
    (NATSSource, "max_ack_pending", 0),
    (NATSSource, "decode", "xml"),
    (NATSSource, "end_after_idle", -1),
    (NATSSource, "read_size", 2**21),
    (NATSSink, "ack_timeout", 0),
    (NATSSink, "ack_timeout", NAN),
    (NATSSink, "publish_timeout", -1),
]


@pytest.mark.parametrize(("cls", "key", "value"), BAD)
def test_bad_values_are_refused_at_construction(cls: Any, key: str, value: object) -> None:
    assert_refused(cls, key, value)


@pytest.mark.parametrize("cls", [NATSConnection, NATSSource, NATSSink])
def test_defaults_are_accepted(cls: Any) -> None:
    assert_defaults_accepted(cls)


def test_servers_that_are_not_nats_urls_are_refused_without_their_password() -> None:
    with pytest.raises(ConfigError, match="config key 'servers'") as info:
        NATSConnection(config={"servers": "http://u:hunter2@host:4222"})
    assert "hunter2" not in str(info.value)


def test_a_source_without_stream_or_durable_and_a_sink_without_subject_are_refused() -> None:
    with pytest.raises(ConfigError, match="'stream' and 'durable'"):
        Pipeline("P").build(NATSSource(config={"stream": "S"}), NATSSink(config={"subject": "s"}))
    with pytest.raises(ConfigError, match="'subject' is empty"):
        Pipeline("P").build(NATSSource(config={"stream": "S", "durable": "d"}), NATSSink())
