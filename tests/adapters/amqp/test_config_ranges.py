"""The AMQP adapter refuses out-of-range config at build, naming the key and the value."""

from __future__ import annotations

from typing import Any

import pytest
from pumpcore_amqp import AMQPConnection, AMQPDeadLetterSink, AMQPSink, AMQPSource

from pumpcore import ConfigError, Pipeline

from .._config_ranges import INF, NAN, assert_defaults_accepted, assert_refused

BAD: list[tuple[Any, str, object]] = [
    (AMQPConnection, "heartbeat", -1),
    (AMQPConnection, "heartbeat", NAN),
    (AMQPConnection, "connect_timeout", 0),
    (AMQPConnection, "connect_timeout", INF),
    (AMQPConnection, "reconnect_delay", -0.5),
    (AMQPConnection, "max_reconnect_delay", NAN),
    (AMQPSource, "prefetch_count", 0),
    (AMQPSource, "prefetch_count", 10**6),
    (AMQPSource, "decode", "xml"),
    (AMQPSource, "end_after_idle", -1),
    (AMQPSource, "end_after_idle", NAN),
    (AMQPSource, "read_size", 0),
    (AMQPSink, "publish_timeout", -1),
    (AMQPSink, "publish_timeout", INF),
    (AMQPDeadLetterSink, "publish_timeout", NAN),
]


@pytest.mark.parametrize(("cls", "key", "value"), BAD)
def test_bad_values_are_refused_at_construction(cls: Any, key: str, value: object) -> None:
    assert_refused(cls, key, value)


@pytest.mark.parametrize("cls", [AMQPConnection, AMQPSource, AMQPSink, AMQPDeadLetterSink])
def test_defaults_are_accepted(cls: Any) -> None:
    assert_defaults_accepted(cls)


def test_a_url_that_is_not_amqp_is_refused_without_its_password() -> None:
    with pytest.raises(ConfigError, match="config key 'url'") as info:
        AMQPConnection(config={"url": "http://u:hunter2@host/"})
    assert "hunter2" not in str(info.value)


def test_a_source_without_a_queue_and_a_sink_without_a_destination_are_refused() -> None:
    with pytest.raises(ConfigError, match="'queue' is empty"):
        Pipeline("P").build(AMQPSource(), AMQPSink(config={"routing_key": "q"}))
    with pytest.raises(ConfigError, match="'routing_key'"):
        Pipeline("P").build(AMQPSource(config={"queue": "q"}), AMQPSink())
