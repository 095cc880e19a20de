"""The MQTT adapter refuses out-of-range config at build, naming the key and the value."""

from __future__ import annotations

from typing import Any

import pytest
from pumpcore_mqtt import MQTTConnection, MQTTSink, MQTTSource

from pumpcore import ConfigError, Pipeline

from .._config_ranges import INF, NAN, assert_defaults_accepted, assert_refused

BAD: list[tuple[Any, str, object]] = [
    (MQTTConnection, "port", 0),
    (MQTTConnection, "port", 70000),
    (MQTTConnection, "keepalive", 0),
    (MQTTConnection, "connect_timeout", NAN),
    (MQTTConnection, "connect_timeout", 0),
    (MQTTConnection, "reconnect_delay", 0),
    (MQTTConnection, "max_reconnect_delay", 10**9),
    (MQTTSource, "decode", "xml"),
    (MQTTSource, "end_after_idle", -1),
    (MQTTSource, "end_after_idle", INF),
    (MQTTSource, "poll_interval", NAN),
    (MQTTSink, "publish_timeout", 0),
    (MQTTSink, "publish_timeout", NAN),
]


@pytest.mark.parametrize(("cls", "key", "value"), BAD)
def test_bad_values_are_refused_at_construction(cls: Any, key: str, value: object) -> None:
    assert_refused(cls, key, value)


@pytest.mark.parametrize("cls", [MQTTConnection, MQTTSource, MQTTSink])
def test_defaults_are_accepted(cls: Any) -> None:
    assert_defaults_accepted(cls)


def test_a_source_without_topics_or_client_id_and_a_sink_without_topic_are_refused() -> None:
    with pytest.raises(ConfigError, match="'topics' and 'client_id'"):
        Pipeline("P").build(MQTTSource(config={"topics": "a/b"}), MQTTSink(config={"topic": "t"}))
    with pytest.raises(ConfigError, match="'topic' is empty"):
        Pipeline("P").build(MQTTSource(config={"topics": "a", "client_id": "c"}), MQTTSink())
